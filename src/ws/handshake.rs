//! The server side of the WebSocket opening handshake (RFC 6455 §4.2), as pure checks on a
//! request: no I/O, so every rule is a row in the table test below.
//!
//! [`check`] validates the client's handshake (§4.2.1), picks a subprotocol from the ones
//! offered (§4.2.2 item 5, `/subprotocol/`), asks the app's `Origin` policy, and computes
//! `Sec-WebSocket-Accept` (§4.2.2 item 5, `/key/`). A bad handshake is an [`Error`] with the
//! status RFC 6455 asks for, so it is answered through the normal error-response path.
//! `Sec-WebSocket-Extensions` is ignored: no extension is ever negotiated, so
//! permessage-deflate (RFC 7692) is never on (§9.1: the server answers only with extensions
//! it supports).

use std::fmt;
use std::sync::Arc;

use http::header::{HeaderValue, CONNECTION, ORIGIN, UPGRADE};
use http::{HeaderMap, Method, StatusCode, Version};
use sha1::{Digest, Sha1};

use crate::error::Error;
use crate::request::Request;

/// The one protocol version this server speaks (RFC 6455 §4.1, §4.2.2 item 4).
pub const VERSION: &str = "13";

/// The GUID appended to the client's key for `Sec-WebSocket-Accept` (RFC 6455 §1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

type OriginPolicy = Arc<dyn Fn(Option<&str>) -> bool + Send + Sync>;

/// What the app accepts in a handshake: the subprotocols it speaks (in its order of
/// preference), its `Origin` policy, and whether it wants to see control frames.
#[derive(Clone, Default)]
pub struct Accept {
    protocols: Vec<String>,
    origin: Option<OriginPolicy>,
    control: bool,
}

impl fmt::Debug for Accept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accept")
            .field("protocols", &self.protocols)
            .field("origin_policy", &self.origin.is_some())
            .field("control", &self.control)
            .finish()
    }
}

impl Accept {
    /// Accept any origin, no subprotocol, control frames answered by the runtime only.
    pub fn new() -> Accept {
        Accept::default()
    }

    /// A subprotocol the app speaks. The first one the client offers that the app lists is
    /// chosen (the client's order of preference, as actix-ws does); none in common means no
    /// `Sec-WebSocket-Protocol` in the answer (RFC 6455 §4.2.2 item 5, `/subprotocol/`),
    /// and the client decides whether to go on.
    pub fn protocol(mut self, name: impl Into<String>) -> Accept {
        self.protocols.push(name.into());
        self
    }

    /// Who may connect, by `Origin` (`None` when the client sent none, as non-browser
    /// clients do). A refused origin is answered `403 Forbidden` (RFC 6455 §4.2.2 item 4 and
    /// §10.2: browsers send `Origin`, so this is the cross-site WebSocket defence).
    pub fn origin(
        mut self,
        allow: impl Fn(Option<&str>) -> bool + Send + Sync + 'static,
    ) -> Accept {
        self.origin = Some(Arc::new(allow));
        self
    }

    /// Whether [`recv`](super::WebSocket::recv) also returns pings and pongs. Pings are
    /// answered by the runtime either way (RFC 6455 §5.5.2). Default: no.
    pub fn control_frames(mut self, yes: bool) -> Accept {
        self.control = yes;
        self
    }

    pub(crate) fn wants_control(&self) -> bool {
        self.control
    }
}

/// A valid handshake: what the `101 Switching Protocols` answer carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// `Sec-WebSocket-Accept`: base64 of SHA-1 of the key and the GUID (RFC 6455 §4.2.2).
    pub accept_key: String,
    /// The chosen subprotocol, if any.
    pub protocol: Option<String>,
}

impl Accepted {
    /// The header fields of the 101 answer beyond `Upgrade` and `Connection` (which the
    /// runtime's encoder writes).
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "sec-websocket-accept",
            HeaderValue::from_str(&self.accept_key).expect("base64 is a valid header value"),
        );
        if let Some(p) = &self.protocol {
            // The token came from the client's own header value, so it is a valid value.
            if let Ok(v) = HeaderValue::from_str(p) {
                h.insert("sec-websocket-protocol", v);
            }
        }
        h
    }
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2 item 5).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    data_encoding::BASE64.encode(&sha.finalize())
}

/// Check `req` as a WebSocket opening handshake against the app's `accept` policy.
pub fn check(req: &Request, accept: &Accept) -> Result<Accepted, Error> {
    check_parts(req.method(), req.version(), req.headers(), accept)
}

fn bad(msg: &str) -> Error {
    Error::with_status(StatusCode::BAD_REQUEST, msg)
}

/// Whether a comma-separated header (every line of it) lists `token`, case-insensitively
/// (RFC 9110 §5.6.1 lists; `Connection` and `Upgrade` tokens are case-insensitive).
fn lists(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn check_parts(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
    accept: &Accept,
) -> Result<Accepted, Error> {
    // RFC 6455 §4.2.1 item 1: an HTTP/1.1 or higher GET.
    if method != Method::GET {
        return Err(bad("a WebSocket handshake must be a GET"));
    }
    if version != Version::HTTP_11 {
        return Err(bad("a WebSocket handshake needs HTTP/1.1"));
    }
    // §4.2.1 items 3 and 4. `Upgrade` may list several protocols (RFC 9110 §7.8).
    if !lists(headers, UPGRADE, "websocket") {
        return Err(bad("missing Upgrade: websocket"));
    }
    if !lists(headers, CONNECTION, "upgrade") {
        return Err(bad("missing Connection: upgrade"));
    }
    // §4.2.1 item 6 and §4.4: another version gets 426 with the versions we speak.
    let version_ok = headers
        .get("sec-websocket-version")
        .is_some_and(|v| v.as_bytes().trim_ascii() == VERSION.as_bytes());
    if !version_ok {
        let mut h = HeaderMap::new();
        h.insert("sec-websocket-version", HeaderValue::from_static(VERSION));
        return Err(Error::with_status_and_headers(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported WebSocket version (this server speaks 13)",
            h,
        ));
    }
    // §4.2.1 item 5: the key is base64 of 16 bytes; exactly one.
    let mut keys = headers.get_all("sec-websocket-key").iter();
    let key = match (keys.next(), keys.next()) {
        (Some(k), None) => k.as_bytes().trim_ascii(),
        _ => return Err(bad("missing or repeated Sec-WebSocket-Key")),
    };
    match data_encoding::BASE64.decode(key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => return Err(bad("Sec-WebSocket-Key is not base64 of 16 bytes")),
    }
    // §4.2.2 item 4, §10.2: the app's origin policy.
    if let Some(allow) = &accept.origin {
        let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
        if !allow(origin) {
            return Err(Error::with_status(
                StatusCode::FORBIDDEN,
                "origin not allowed",
            ));
        }
    }
    // §4.2.2 item 5 `/subprotocol/`: one of the client's, or none.
    let protocol = headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|offered| accept.protocols.iter().any(|p| p == offered))
        .map(str::to_owned);
    Ok(Accepted {
        accept_key: accept_key(key),
        protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample key and answer of RFC 6455 §1.3.
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn headers(lines: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in lines {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const GOOD: &[(&str, &str)] = &[
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", KEY),
    ];

    fn with(change: &[(&str, Option<&str>)]) -> HeaderMap {
        let mut h = headers(GOOD);
        for (k, v) in change {
            h.remove(*k);
            if let Some(v) = v {
                h.append(
                    http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
        }
        h
    }

    #[test]
    fn the_rfc_sample_key_gives_the_rfc_sample_answer() {
        assert_eq!(accept_key(KEY.as_bytes()), ACCEPT);
    }

    /// (what, method, version, header changes, expected status or `None` for accepted)
    type Case = (
        &'static str,
        Method,
        Version,
        &'static [(&'static str, Option<&'static str>)],
        Option<u16>,
    );

    #[test]
    fn handshake_rules() {
        let cases: &[Case] = &[
            ("good", Method::GET, Version::HTTP_11, &[], None),
            ("post", Method::POST, Version::HTTP_11, &[], Some(400)),
            ("http/1.0", Method::GET, Version::HTTP_10, &[], Some(400)),
            (
                "no upgrade",
                Method::GET,
                Version::HTTP_11,
                &[("upgrade", None)],
                Some(400),
            ),
            (
                "upgrade h2c",
                Method::GET,
                Version::HTTP_11,
                &[("upgrade", Some("h2c"))],
                Some(400),
            ),
            (
                "upgrade list",
                Method::GET,
                Version::HTTP_11,
                &[("upgrade", Some("foo, WebSocket"))],
                None,
            ),
            (
                "no connection",
                Method::GET,
                Version::HTTP_11,
                &[("connection", None)],
                Some(400),
            ),
            (
                "connection list",
                Method::GET,
                Version::HTTP_11,
                &[("connection", Some("keep-alive, Upgrade"))],
                None,
            ),
            (
                "connection close",
                Method::GET,
                Version::HTTP_11,
                &[("connection", Some("close"))],
                Some(400),
            ),
            (
                "no version",
                Method::GET,
                Version::HTTP_11,
                &[("sec-websocket-version", None)],
                Some(426),
            ),
            (
                "version 8",
                Method::GET,
                Version::HTTP_11,
                &[("sec-websocket-version", Some("8"))],
                Some(426),
            ),
            (
                "no key",
                Method::GET,
                Version::HTTP_11,
                &[("sec-websocket-key", None)],
                Some(400),
            ),
            (
                "short key",
                Method::GET,
                Version::HTTP_11,
                &[("sec-websocket-key", Some("AAAA"))],
                Some(400),
            ),
            (
                "not base64",
                Method::GET,
                Version::HTTP_11,
                &[("sec-websocket-key", Some("not base64 at all!!!!!=="))],
                Some(400),
            ),
            (
                "17-byte key",
                Method::GET,
                Version::HTTP_11,
                &[("sec-websocket-key", Some("AAAAAAAAAAAAAAAAAAAAAAA="))],
                Some(400),
            ),
        ];
        for (what, method, version, change, want) in cases {
            let got = check_parts(method, *version, &with(change), &Accept::new());
            match (got, want) {
                (Ok(a), None) => assert_eq!(a.accept_key, ACCEPT, "{what}"),
                (Err(e), Some(s)) => {
                    assert_eq!(e.status().as_u16(), *s, "{what}: {e}");
                    if *s == 426 {
                        let h = e.headers().expect("426 carries headers");
                        assert_eq!(h["sec-websocket-version"], "13", "{what}");
                    }
                }
                (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_repeated_key_is_refused() {
        let mut h = headers(GOOD);
        h.append("sec-websocket-key", HeaderValue::from_static(KEY));
        let e = check_parts(&Method::GET, Version::HTTP_11, &h, &Accept::new()).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn the_first_offered_protocol_the_app_speaks_is_chosen() {
        let h = with(&[("sec-websocket-protocol", Some("mqtt, chat.v2, chat.v1"))]);
        let accept = Accept::new().protocol("chat.v1").protocol("chat.v2");
        let a = check_parts(&Method::GET, Version::HTTP_11, &h, &accept).unwrap();
        assert_eq!(a.protocol.as_deref(), Some("chat.v2"));
        assert_eq!(a.headers()["sec-websocket-protocol"], "chat.v2");
        let none = check_parts(&Method::GET, Version::HTTP_11, &h, &Accept::new()).unwrap();
        assert_eq!(none.protocol, None);
        assert!(!none.headers().contains_key("sec-websocket-protocol"));
    }

    #[test]
    fn the_origin_policy_decides_with_403() {
        let accept = Accept::new().origin(|o| o == Some("https://good.example"));
        let good = with(&[("origin", Some("https://good.example"))]);
        let evil = with(&[("origin", Some("https://evil.example"))]);
        assert!(check_parts(&Method::GET, Version::HTTP_11, &good, &accept).is_ok());
        let e = check_parts(&Method::GET, Version::HTTP_11, &evil, &accept).unwrap_err();
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        let e = check_parts(&Method::GET, Version::HTTP_11, &headers(GOOD), &accept).unwrap_err();
        assert_eq!(
            e.status(),
            StatusCode::FORBIDDEN,
            "no Origin, policy says no"
        );
    }

    #[test]
    fn extensions_are_never_negotiated() {
        let h = with(&[("sec-websocket-extensions", Some("permessage-deflate"))]);
        let a = check_parts(&Method::GET, Version::HTTP_11, &h, &Accept::new()).unwrap();
        assert!(!a.headers().contains_key("sec-websocket-extensions"));
    }
}
