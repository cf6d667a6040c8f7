//! The request an app is called with (the seed's `environ`) and the connection facts behind
//! it.

use std::borrow::Cow;
use std::fmt;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

use http::{HeaderMap, Method, Version};

use crate::h1::{BodyFraming, RequestHead};

/// What a request knows about its connection: both addresses and whether it is TLS.
///
/// Built by the runtime once per connection and copied into each request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    peer: SocketAddr,
    /// The local address with the TLS flag folded into its variant: a waiting Comet request
    /// holds a copy of this, and a separate `bool` would add a padded word to every one.
    local: Local,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Local {
    PlainV4(SocketAddrV4),
    PlainV6(SocketAddrV6),
    TlsV4(SocketAddrV4),
    TlsV6(SocketAddrV6),
}

impl ConnInfo {
    /// A plain-TCP connection from `peer` to `local`.
    pub fn new(peer: SocketAddr, local: SocketAddr) -> ConnInfo {
        ConnInfo::with_secure(peer, local, false)
    }

    /// A connection from `peer` to `local`, TLS when `secure`.
    pub fn with_secure(peer: SocketAddr, local: SocketAddr, secure: bool) -> ConnInfo {
        let local = match (local, secure) {
            (SocketAddr::V4(a), false) => Local::PlainV4(a),
            (SocketAddr::V6(a), false) => Local::PlainV6(a),
            (SocketAddr::V4(a), true) => Local::TlsV4(a),
            (SocketAddr::V6(a), true) => Local::TlsV6(a),
        };
        ConnInfo { peer, local }
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The server's address the connection arrived on.
    pub fn local_addr(&self) -> SocketAddr {
        match self.local {
            Local::PlainV4(a) | Local::TlsV4(a) => SocketAddr::V4(a),
            Local::PlainV6(a) | Local::TlsV6(a) => SocketAddr::V6(a),
        }
    }

    /// Whether the connection is TLS.
    pub fn is_secure(&self) -> bool {
        matches!(self.local, Local::TlsV4(_) | Local::TlsV6(_))
    }
}

impl fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnInfo")
            .field("peer", &self.peer)
            .field("local", &self.local_addr())
            .field("secure", &self.is_secure())
            .finish()
    }
}

/// The request an app is called with: the seed's `environ`.
pub struct Request {
    head: RequestHead,
    conn: ConnInfo,
    extensions: http::Extensions,
}

impl Request {
    pub(crate) fn new(head: RequestHead, conn: ConnInfo) -> Request {
        Request {
            head,
            conn,
            extensions: http::Extensions::new(),
        }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The request-target exactly as sent.
    pub fn target(&self) -> &str {
        &self.head.target
    }

    /// The path part of the target (not percent-decoded).
    pub fn path(&self) -> &str {
        self.head.path()
    }

    /// The query part of the target, without the `?`, exactly as sent.
    pub fn query(&self) -> Option<&str> {
        self.head.query()
    }

    /// The first value of query parameter `name`, decoded as
    /// `application/x-www-form-urlencoded` (`%20` and `+` are spaces). Names are compared
    /// after decoding. Borrowed from the target unless decoding changed something.
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Every query parameter in order, names and values decoded as
    /// `application/x-www-form-urlencoded`; empty without a query.
    pub fn query_pairs(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
        form_urlencoded::parse(self.query().unwrap_or("").as_bytes())
    }

    /// The first value of query parameter `name` exactly as sent: split on `&` and `=`, not
    /// decoded (for values whose escapes the app wants to see).
    pub fn raw_query_param(&self, name: &str) -> Option<&str> {
        self.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }

    /// The protocol version (HTTP/1.0 or HTTP/1.1).
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// How the body is framed: empty, a Content-Length, or chunked.
    pub fn framing(&self) -> BodyFraming {
        self.head.framing
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.conn.peer_addr()
    }

    /// The server's address this request arrived on.
    pub fn local_addr(&self) -> SocketAddr {
        self.conn.local_addr()
    }

    /// Whether the request came over TLS.
    pub fn is_secure(&self) -> bool {
        self.conn.is_secure()
    }

    /// The URL scheme: `"https"` over TLS, `"http"` otherwise.
    pub fn scheme(&self) -> &'static str {
        if self.is_secure() {
            "https"
        } else {
            "http"
        }
    }

    /// Server- and middleware-specific values, keyed by type.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Mutable access to the extensions, for middleware that adds keys.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// Mutable access to the headers, for middleware that rewrites them.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.head.headers
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", self.method())
            .field("target", &self.target())
            .field("version", &self.version())
            .field("peer", &self.peer_addr())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::testing::{addr, request};

    #[test]
    fn query_param_decodes_form_encoding() {
        let req =
            request("GET /s?q=a%20b&plus=1+2&raw=%E2%9C%93&empty&q=second HTTP/1.1\r\nHost: x");
        assert_eq!(
            req.query_param("q").as_deref(),
            Some("a b"),
            "the first one wins"
        );
        assert_eq!(req.query_param("plus").as_deref(), Some("1 2"));
        assert_eq!(req.query_param("raw").as_deref(), Some("\u{2713}"));
        assert_eq!(req.query_param("empty").as_deref(), Some(""));
        assert_eq!(req.query_param("missing"), None);
        assert!(
            matches!(req.query_param("empty"), Some(Cow::Borrowed(_))),
            "nothing to decode, nothing copied"
        );
    }

    #[test]
    fn raw_query_param_is_as_sent() {
        let req = request("GET /s?q=a%20b&plus=1+2 HTTP/1.1\r\nHost: x");
        assert_eq!(req.raw_query_param("q"), Some("a%20b"));
        assert_eq!(req.raw_query_param("plus"), Some("1+2"));
        assert_eq!(req.query(), Some("q=a%20b&plus=1+2"));
    }

    #[test]
    fn query_pairs_decodes_names_and_values_in_order() {
        let req = request("GET /s?a%5B%5D=1&b=x+y HTTP/1.1\r\nHost: x");
        let pairs: Vec<(String, String)> = req
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            pairs,
            [("a[]".into(), "1".into()), ("b".into(), "x y".into())]
        );
        assert_eq!(req.query_param("a[]").as_deref(), Some("1"));
    }

    #[test]
    fn no_query_means_no_params() {
        let req = request("GET /s HTTP/1.1\r\nHost: x");
        assert_eq!(req.query(), None);
        assert_eq!(req.query_param("q"), None);
        assert_eq!(req.raw_query_param("q"), None);
        assert_eq!(req.query_pairs().count(), 0);
    }

    #[test]
    fn scheme_follows_tls() {
        let plain = request("GET / HTTP/1.1\r\nHost: x");
        assert!(!plain.is_secure());
        assert_eq!(plain.scheme(), "http");
        let mut buf = bytes::BytesMut::from("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let head = crate::h1::parse_head(&mut buf, &crate::Limits::default())
            .unwrap()
            .unwrap();
        let conn = ConnInfo::with_secure(addr("10.0.0.1:5000"), addr("10.0.0.2:443"), true);
        let tls = Request::new(head, conn);
        assert!(tls.is_secure());
        assert_eq!(tls.scheme(), "https");
        assert_eq!(tls.local_addr(), addr("10.0.0.2:443"));
        assert_eq!(tls.peer_addr(), addr("10.0.0.1:5000"));
    }

    #[test]
    fn conn_info_keeps_addresses_whole() {
        let peer = addr("[fe80::1%7]:5000");
        for local in [addr("[fe80::2%3]:443"), addr("127.0.0.1:80")] {
            for secure in [false, true] {
                let c = ConnInfo::with_secure(peer, local, secure);
                assert_eq!(
                    (c.peer_addr(), c.local_addr(), c.is_secure()),
                    (peer, local, secure)
                );
            }
        }
        assert!(!ConnInfo::new(peer, peer).is_secure());
    }

    #[test]
    fn the_tls_flag_costs_no_space() {
        assert_eq!(
            std::mem::size_of::<ConnInfo>(),
            2 * std::mem::size_of::<SocketAddr>()
        );
    }
}
