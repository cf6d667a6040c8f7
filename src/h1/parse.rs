//! Request head parsing: request line and header section (RFC 9112 §2–§6), on top of httparse.
//!
//! httparse does the byte-level work (tokens, line ends, field syntax). This module adds what
//! httparse leaves to its caller: the head size limit, bare LF line ends (RFC 9112 §2.2,
//! rejected unless `allow_bare_lf`), telling an unsupported version from garbage,
//! request-target forms, Host rules, and the body framing decision of RFC 9112 §6.3 — the part
//! request smuggling attacks aim at, so it errs on the side of rejecting.

use std::mem::MaybeUninit;

use bytes::{Buf, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Version};

use super::error::ParseError;
use crate::limits::Limits;

/// How the request body is framed (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: neither Content-Length nor Transfer-Encoding was sent. Requests are never
    /// close-delimited (RFC 9112 §6.3 item 7).
    Empty,
    /// Exactly this many bytes follow the head (RFC 9112 §6.3 item 5). `Content-Length: 0`
    /// yields `Length(0)`, not `Empty`, so the app can tell what the client sent.
    Length(u64),
    /// The chunked transfer coding (RFC 9112 §7.1).
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The raw request-target, as sent.
    pub target: String,
    /// Where [`path`](Self::path) and [`query`](Self::query) lie in `target`: kept as ranges
    /// so a request costs one string, not three.
    path_at: std::ops::Range<usize>,
    query_at: Option<std::ops::Range<usize>>,
    /// `HTTP_10` or `HTTP_11`.
    pub version: Version,
    /// Every field line in order, duplicates kept.
    pub headers: HeaderMap,
    /// How the body that follows the head is framed.
    pub framing: BodyFraming,
    /// Whether the client wants the connection kept open after this exchange (RFC 9112 §9.3):
    /// HTTP/1.1 unless a `close` connection option; HTTP/1.0 only with `keep-alive` and no
    /// `close`.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 §10.1.1: ignored on HTTP/1.0).
    /// Set whatever the framing; whether to send `100 Continue` (a server may skip it, e.g. when
    /// there is no body or it answers first) is the runtime's call.
    pub expect_continue: bool,
}

impl RequestHead {
    /// The path: the target up to `?` for origin-form; the path part of the URI for
    /// absolute-form (`/` if empty); `*` for asterisk-form; the authority for CONNECT
    /// (RFC 9112 §3.2).
    pub fn path(&self) -> &str {
        if self.path_at.is_empty() {
            "/" // RFC 9112 §3.3: an absolute-form target with an empty path means "/"
        } else {
            &self.target[self.path_at.clone()]
        }
    }

    /// The query after `?`, without it. `Some("")` for a target ending in `?`.
    pub fn query(&self) -> Option<&str> {
        self.query_at.clone().map(|r| &self.target[r])
    }
}

/// Heads with at most this many header slots are parsed with slots on the stack; more (a raised
/// `max_headers`) take a heap allocation per parse. 100 is the default `max_headers`.
const INLINE_HEADER_SLOTS: usize = 100;

/// Parse one request head from the front of `buf`.
///
/// On success the head's bytes are removed from `buf`, so body bytes and pipelined requests stay
/// in it. `Ok(None)` means the head is incomplete and more bytes are needed; once `buf` holds
/// more than `limits.max_head_bytes` without a complete head, the answer is
/// `Err(HeadTooLarge)` instead. A complete head larger than the limit is also `HeadTooLarge`.
/// Empty lines before the request line are skipped (RFC 9112 §2.2) and count toward the limit,
/// so an endless stream of them is bounded too.
///
/// Lines must end in CRLF: a bare LF anywhere in the head is `Err(BareLf)` unless
/// `limits.allow_bare_lf` (RFC 9112 §2.2); a bare CR is always an error. The bare LF check
/// runs once the head is complete (or httparse has failed), so a head that arrives in pieces
/// gets the same answer as one that arrives whole.
///
/// On error `buf` is left as it was.
pub fn parse_head(buf: &mut BytesMut, limits: &Limits) -> Result<Option<RequestHead>, ParseError> {
    // Only the first `max_head_bytes` are offered to httparse: a head that does not end within
    // them is too large whether or not the rest has arrived, and we never scan further.
    let window = &buf[..buf.len().min(limits.max_head_bytes)];

    let mut inline = [MaybeUninit::<httparse::Header<'_>>::uninit(); INLINE_HEADER_SLOTS];
    let mut heap;
    let slots = if limits.max_headers <= INLINE_HEADER_SLOTS {
        &mut inline[..limits.max_headers]
    } else {
        heap = vec![MaybeUninit::uninit(); limits.max_headers];
        &mut heap[..]
    };

    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(window, slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > limits.max_head_bytes => {
            return Err(ParseError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        // httparse rejects a version it does not speak as soon as it reads it, before the
        // request line ends; but what follows on the line can still make it a bad line (400)
        // rather than an unsupported version (505). Wait for the line end, so the answer is
        // the same however the head arrives in pieces (found by the connection fuzzer:
        // `HTTP/1.2\rx` was 505 byte by byte and 400 whole).
        Err(httparse::Error::Version) if !request_line_ended(window) => {
            return if buf.len() >= limits.max_head_bytes {
                Err(ParseError::HeadTooLarge)
            } else {
                Ok(None)
            };
        }
        Err(err) => {
            // httparse failed somewhere in `window`. If it accepts every byte before the first
            // bare LF (Partial), that LF is the first fault in the head and the one to report.
            // Deciding by the first fault in byte order keeps the answer the same however the
            // head arrived in pieces. Error path only, so the second parse costs nothing.
            if !limits.allow_bare_lf {
                if let Some(lf) = first_bare_lf(window) {
                    let mut before = httparse::Request::new(&mut []);
                    if before
                        .parse_with_uninit_headers(&window[..lf], slots)
                        .is_ok()
                    {
                        return Err(ParseError::BareLf);
                    }
                }
            }
            return Err(classify(err, window));
        }
    };
    // RFC 9112 §2.2: the line terminator is CRLF; a recipient MAY take a bare LF as one, and
    // httparse does. A front end that does not would see a different head (and so a different
    // body start) than we do, so unless `allow_bare_lf` says otherwise any bare LF in the head,
    // leading empty lines and the final empty line included, is a 400. httparse has already
    // rejected every bare CR, so an LF with a CR before it is a CRLF. One memchr pass over the
    // head bytes only, no allocation; body bytes after `len` are not looked at.
    if !limits.allow_bare_lf && first_bare_lf(&window[..len]).is_some() {
        return Err(ParseError::BareLf);
    }

    // httparse fills all three on Complete; a missing one would be a bug there, not bad input.
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(ParseError::BadRequestLine);
    };
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| ParseError::BadMethod)?;
    // httparse only completes on exactly "HTTP/1.0" or "HTTP/1.1" (RFC 9112 §2.3).
    let version = if minor == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    let (path_at, query_at) = split_target(&method, target)?;

    // Sized to the request: HeaderMap's default first growth reserves far more than a
    // typical head needs, and a waiting Comet request keeps its head for its whole life.
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| ParseError::BadHeader)?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| ParseError::BadHeader)?;
        // `try_append` only fails past http's own table size (32 Ki entries), reachable only
        // with an absurdly raised `max_headers`.
        headers
            .try_append(name, value)
            .map_err(|_| ParseError::TooManyHeaders)?;
    }

    check_host(&headers, version)?;
    let framing = body_framing(&headers, version)?;

    let close = has_token(&headers, &header::CONNECTION, b"close");
    // RFC 9112 §9.3: HTTP/1.1 defaults to persistent; HTTP/1.0 persists only when asked to.
    let keep_alive = if version == Version::HTTP_11 {
        !close
    } else {
        !close && has_token(&headers, &header::CONNECTION, b"keep-alive")
    };
    // RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored.
    let expect_continue =
        version == Version::HTTP_11 && has_token(&headers, &header::EXPECT, b"100-continue");

    let head = RequestHead {
        method,
        target: target.to_owned(),
        path_at,
        query_at,
        version,
        headers,
        framing,
        keep_alive,
        expect_continue,
    };
    buf.advance(len);
    Ok(Some(head))
}

/// Map an httparse error to our cause, looking at the bytes where httparse's error is too coarse.
fn classify(err: httparse::Error, window: &[u8]) -> ParseError {
    match err {
        httparse::Error::TooManyHeaders => ParseError::TooManyHeaders,
        httparse::Error::HeaderName | httparse::Error::HeaderValue => ParseError::BadHeader,
        // httparse says `Version` both for `HTTP/2.0` and for `HTXP/1.1`; only a well-formed
        // version we do not speak earns 505 (RFC 9110 §15.6.6), anything else is a bad line.
        httparse::Error::Version => match request_line(window).splitn(3, |&b| b == b' ').nth(2) {
            Some(v) if is_http_version(v) => ParseError::UnsupportedVersion,
            _ => ParseError::BadRequestLine,
        },
        // A bad line end (bare CR, junk after the version) can be in the request line or in the
        // header section; find out which by parsing the request line on its own. Error path
        // only, so the copy does not matter.
        httparse::Error::NewLine => {
            let mut line = request_line(window).to_vec();
            line.extend_from_slice(b"\r\n\r\n");
            match httparse::Request::new(&mut []).parse(&line) {
                Ok(_) => ParseError::BadHeader,
                Err(_) => ParseError::BadRequestLine,
            }
        }
        httparse::Error::Token | httparse::Error::Status => ParseError::BadRequestLine,
    }
}

/// Where the first LF without a CR right before it is (RFC 9112 §2.2's "bare LF").
fn first_bare_lf(bytes: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', bytes).find(|&i| i == 0 || bytes[i - 1] != b'\r')
}

/// The request line: after the empty lines httparse skips, up to the first LF, without a CR
/// right before that LF.
fn request_line(window: &[u8]) -> &[u8] {
    // Skip exactly what httparse skips: CRLF or LF, never a bare CR (which is itself an error
    // of the request line).
    let mut rest = window;
    loop {
        if let Some(r) = rest.strip_prefix(b"\r\n") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix(b"\n") {
            rest = r;
        } else {
            break;
        }
    }
    let line = match rest.iter().position(|&b| b == b'\n') {
        Some(lf) => &rest[..lf],
        None => rest,
    };
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether the request line (after the empty lines httparse skips) has its LF yet.
fn request_line_ended(window: &[u8]) -> bool {
    let start = window
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(window.len());
    memchr::memchr(b'\n', &window[start..]).is_some()
}

/// `HTTP/` 1*DIGIT [ "." *DIGIT ]: RFC 9112 §2.3's `HTTP-name "/" DIGIT "." DIGIT`, loosened so
/// that `HTTP/3`, `HTTP/10.0`, and a version cut short by the end of the bytes received so far
/// (`HTTP/2.`) also count as "a version", not garbage.
fn is_http_version(v: &[u8]) -> bool {
    let Some(rest) = v.strip_prefix(b"HTTP/") else {
        return false;
    };
    let (major, minor) = match rest.iter().position(|&b| b == b'.') {
        Some(dot) => (&rest[..dot], &rest[dot + 1..]),
        None => (rest, &b""[..]),
    };
    !major.is_empty()
        && major.iter().all(u8::is_ascii_digit)
        && minor.iter().all(u8::is_ascii_digit)
}

/// Where the path and query lie in a request-target.
type TargetParts = (std::ops::Range<usize>, Option<std::ops::Range<usize>>);

/// Check the request-target against the forms RFC 9112 §3.2 allows for the method, and find
/// its path and query (an empty path range stands for "/").
fn split_target(method: &Method, target: &str) -> Result<TargetParts, ParseError> {
    let bytes = target.as_bytes();
    let whole = 0..target.len();
    // A fragment is never part of a request-target (RFC 9112 §3.2 grammar); httparse lets `#`
    // through, so a client sending one is confused or probing.
    if bytes.contains(&b'#') {
        return Err(ParseError::BadTarget);
    }
    // §3.2.3: CONNECT takes authority-form (uri-host ":" port) and nothing else.
    if method == Method::CONNECT {
        return if valid_authority(bytes, true) && !bytes.starts_with(b":") {
            Ok((whole, None))
        } else {
            Err(ParseError::BadTarget)
        };
    }
    // §3.2.4: asterisk-form only for a server-wide OPTIONS.
    if bytes == b"*" {
        return if method == Method::OPTIONS {
            Ok((whole, None))
        } else {
            Err(ParseError::BadTarget)
        };
    }
    // §3.2.1 origin-form, or §3.2.2 absolute-form, which a server MUST accept.
    let start = if bytes.starts_with(b"/") {
        0
    } else {
        // A suffix of `target`, so its offset is the length difference.
        target.len() - absolute_form_path(target)?.len()
    };
    Ok(match target[start..].find('?') {
        Some(q) => (start..start + q, Some(start + q + 1..target.len())),
        None => (start..target.len(), None),
    })
}

/// The path-and-query of an absolute-form target: `scheme "://" authority path-abempty
/// [ "?" query ]` (RFC 9112 §3.2.2, RFC 3986 §3). Only the hierarchical form is accepted: it is
/// the only one `http` and `https` URIs have (RFC 9110 §4.2).
fn absolute_form_path(target: &str) -> Result<&str, ParseError> {
    let (scheme, rest) = target.split_once(':').ok_or(ParseError::BadTarget)?;
    let scheme_ok = scheme
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    let rest = rest.strip_prefix("//").ok_or(ParseError::BadTarget)?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest.as_bytes()[..end];
    // RFC 9110 §4.2.1: an http(s) URI with an empty host is invalid; §4.2.4: userinfo is to be
    // treated as an error (valid_authority rejects `@`).
    if !scheme_ok || authority.is_empty() || !valid_authority(authority, false) {
        return Err(ParseError::BadTarget);
    }
    Ok(&rest[end..])
}

/// Whether `s` is `uri-host [ ":" port ]` (RFC 3986 §3.2.2, §3.2.3), with the port required
/// when `require_port`. `uri-host` may be empty, as RFC 9110 §7.2 allows for Host.
fn valid_authority(s: &[u8], require_port: bool) -> bool {
    let (host_ok, port) = if let Some(literal) = s.strip_prefix(b"[") {
        // IP-literal: an IPv6 address in brackets. IPvFuture is not accepted: no client sends it.
        let Some(close) = literal.iter().position(|&b| b == b']') else {
            return false;
        };
        let addr = &literal[..close];
        let ok = !addr.is_empty()
            && addr
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        match &literal[close + 1..] {
            [] => (ok, None),
            [b':', port @ ..] => (ok, Some(port)),
            _ => return false,
        }
    } else {
        // reg-name (which covers IPv4address) cannot contain ':', so the last one starts the port.
        let (host, port) = match s.iter().rposition(|&b| b == b':') {
            Some(colon) => (&s[..colon], Some(&s[colon + 1..])),
            None => (s, None),
        };
        (is_reg_name(host), port)
    };
    let port_ok = match port {
        Some(port) => port.iter().all(u8::is_ascii_digit) && !(require_port && port.is_empty()),
        None => !require_port,
    };
    host_ok && port_ok
}

/// reg-name = *( unreserved / pct-encoded / sub-delims ) (RFC 3986 §3.2.2).
fn is_reg_name(host: &[u8]) -> bool {
    let mut i = 0;
    while i < host.len() {
        match host[i] {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {}
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => {}
            b'%' => {
                let hex = host.get(i + 1..i + 3);
                if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 2;
            }
            _ => return false,
        }
        i += 1;
    }
    true
}

/// RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request without Host, and to any
/// request with more than one Host field line or an invalid Host value. HTTP/1.0 predates Host,
/// so there it is optional (but still at most one, and valid).
fn check_host(headers: &HeaderMap, version: Version) -> Result<(), ParseError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => Err(ParseError::DuplicateHost),
        (Some(host), None) if !valid_authority(host.as_bytes(), false) => Err(ParseError::BadHost),
        (None, _) if version == Version::HTTP_11 => Err(ParseError::MissingHost),
        _ => Ok(()),
    }
}

/// Decide how the body is framed, per RFC 9112 §6.3, rejecting every ambiguous combination.
fn body_framing(headers: &HeaderMap, version: Version) -> Result<BodyFraming, ParseError> {
    let content_length = content_length(headers)?;
    if !headers.contains_key(header::TRANSFER_ENCODING) {
        // §6.3 item 5 (Content-Length) or item 7 (a request without either has no body).
        return Ok(content_length.map_or(BodyFraming::Empty, BodyFraming::Length));
    }
    // §6.1: Transfer-Encoding in an HTTP/1.0 message means its framing is faulty, even with a
    // Content-Length: a 1.0 intermediary may have forwarded it without understanding it.
    if version == Version::HTTP_10 {
        return Err(ParseError::TransferEncodingInHttp10);
    }
    // §6.3 item 3: both present is what request smuggling looks like; §6.1 lets a server reject
    // it rather than pick one, and we do.
    if content_length.is_some() {
        return Err(ParseError::ContentLengthWithTransferEncoding);
    }
    transfer_codings(headers)
}

/// Content-Length (RFC 9110 §8.6): at most one field line, whose value (OWS around it
/// ignored, RFC 9112 §5.1) is exactly 1*DIGIT.
///
/// RFC 9112 §6.3 item 5 lets a recipient either reject a list (`5, 5`) or repeated field lines
/// of one identical value, or collapse them to that value. We reject both, whether or not the
/// values agree: an intermediary that collapses them and an origin that does not (or that
/// takes the first, or the last) frame the body differently, which is the desync request
/// smuggling needs, and no conforming client sends either. A list is just another non-digit
/// value (400 `BadContentLength`); a second line is `DuplicateContentLength` (400), like a
/// second Host (§3.2).
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, ParseError> {
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ParseError::DuplicateContentLength);
    }
    parse_decimal(trim_ows(value.as_bytes()))
        .map(Some)
        .ok_or(ParseError::BadContentLength)
}

/// 1*DIGIT as a u64; `None` for anything else (sign, hex prefix, separators, empty) or overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// The transfer codings of all Transfer-Encoding field lines, in order (RFC 9112 §6.1). The body
/// can only be framed if `chunked` is the final coding and appears once (§6.3 item 4, §7: a
/// sender MUST NOT apply chunked more than once); other codings are not implemented (501).
fn transfer_codings(headers: &HeaderMap) -> Result<BodyFraming, ParseError> {
    let mut chunked_seen = false;
    let mut last_is_chunked = false;
    let mut other_seen = false;
    for value in headers.get_all(header::TRANSFER_ENCODING) {
        for item in value.as_bytes().split(|&b| b == b',') {
            let item = trim_ows(item);
            // RFC 9110 §5.6.1.2: empty list elements are ignored.
            if item.is_empty() {
                continue;
            }
            // Coding names are case-insensitive (RFC 9112 §7). `chunked` takes no parameters,
            // so `chunked;x=y` is some other coding, never a disguised `chunked`.
            if item.eq_ignore_ascii_case(b"chunked") {
                if chunked_seen {
                    return Err(ParseError::TransferEncodingNotChunkedLast);
                }
                chunked_seen = true;
                last_is_chunked = true;
            } else {
                other_seen = true;
                last_is_chunked = false;
            }
        }
    }
    // §6.3 item 4 (MUST 400) is checked before §6.1's 501 (SHOULD): without a final chunked the
    // body length is unknowable, which is a framing error whatever the codings are.
    if !last_is_chunked {
        return Err(ParseError::TransferEncodingNotChunkedLast);
    }
    if other_seen {
        return Err(ParseError::UnknownTransferCoding);
    }
    Ok(BodyFraming::Chunked)
}

/// Whether any field line `name` holds `token` in its comma-separated list, case-insensitively
/// (connection options RFC 9110 §7.6.1, expectations §10.1.1).
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &[u8]) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|item| trim_ows(item).eq_ignore_ascii_case(token))
    })
}

/// Strip optional whitespace (SP / HTAB, RFC 9110 §5.6.3) from both ends.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<Option<RequestHead>, ParseError> {
        parse_with(input, &Limits::default())
    }

    fn parse_with(input: &[u8], limits: &Limits) -> Result<Option<RequestHead>, ParseError> {
        let mut buf = BytesMut::from(input);
        let res = parse_head(&mut buf, limits);
        if res.is_err() {
            assert_eq!(&buf[..], input, "buf must be untouched on error");
        }
        res
    }

    fn ok(input: &[u8]) -> RequestHead {
        match parse(input) {
            Ok(Some(head)) => head,
            other => panic!(
                "{:?}: expected a head, got {other:?}",
                String::from_utf8_lossy(input)
            ),
        }
    }

    /// Run a table of (label, input, expected error).
    fn rejects(table: &[(&str, &[u8], ParseError)]) {
        for &(label, input, want) in table {
            match parse(input) {
                Err(got) => assert_eq!(got, want, "{label}"),
                Ok(head) => panic!("{label}: expected {want:?}, got {head:?}"),
            }
        }
    }

    /// A 1.1 request with Host and the given extra header lines.
    fn with_headers(lines: &str) -> Vec<u8> {
        format!("POST / HTTP/1.1\r\nHost: example.com\r\n{lines}\r\n").into_bytes()
    }

    #[test]
    fn simple_get() {
        let mut buf = BytesMut::from(
            &b"GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"[..],
        );
        let head = parse_head(&mut buf, &Limits::default()).unwrap().unwrap();
        assert_eq!(head.method, Method::GET);
        assert_eq!(head.target, "/a/b?x=1&y");
        assert_eq!(head.path(), "/a/b");
        assert_eq!(head.query(), Some("x=1&y"));
        assert_eq!(head.version, Version::HTTP_11);
        assert_eq!(head.headers["host"], "example.com");
        assert_eq!(head.headers["accept"], "*/*");
        assert_eq!(head.framing, BodyFraming::Empty);
        assert!(head.keep_alive);
        assert!(!head.expect_continue);
        assert!(buf.is_empty());
    }

    #[test]
    fn leaves_body_and_pipelined_bytes() {
        let mut buf = BytesMut::from(
            &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n"[..],
        );
        let head = parse_head(&mut buf, &Limits::default()).unwrap().unwrap();
        assert_eq!(head.framing, BodyFraming::Length(5));
        assert_eq!(&buf[..], b"helloGET / HTTP/1.1\r\n");

        let mut buf = BytesMut::from(
            &b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        );
        assert_eq!(
            parse_head(&mut buf, &Limits::default())
                .unwrap()
                .unwrap()
                .path(),
            "/1"
        );
        assert_eq!(
            parse_head(&mut buf, &Limits::default())
                .unwrap()
                .unwrap()
                .path(),
            "/2"
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn every_prefix_is_incomplete_and_untouched() {
        let full = b"\r\nPUT /x?q HTTP/1.1\r\nHost: a:80\r\nContent-Length: 3\r\nX: y \r\n\r\n";
        for end in 0..full.len() {
            let mut buf = BytesMut::from(&full[..end]);
            assert!(
                parse_head(&mut buf, &Limits::default()).unwrap().is_none(),
                "prefix of {end} bytes"
            );
            assert_eq!(&buf[..], &full[..end]);
        }
        assert!(ok(full).headers.contains_key("x"));
    }

    #[test]
    fn accepted_forms() {
        // (label, input, path, query)
        let table: &[(&str, &[u8], &str, Option<&str>)] = &[
            (
                "leading empty lines (§2.2)",
                b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
                "/",
                None,
            ),
            (
                "empty query",
                b"GET /p? HTTP/1.1\r\nHost: a\r\n\r\n",
                "/p",
                Some(""),
            ),
            (
                "absolute-form (§3.2.2)",
                b"GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n",
                "/a",
                Some("b"),
            ),
            (
                "absolute-form, empty path",
                b"GET https://example.com HTTP/1.1\r\nHost: x\r\n\r\n",
                "/",
                None,
            ),
            (
                "absolute-form, query only",
                b"GET http://e.com:8080?q HTTP/1.1\r\nHost: x\r\n\r\n",
                "/",
                Some("q"),
            ),
            (
                "asterisk-form (§3.2.4)",
                b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
                "*",
                None,
            ),
            (
                "authority-form (§3.2.3)",
                b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
                "example.com:443",
                None,
            ),
            (
                "authority-form, IPv6",
                b"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n",
                "[::1]:443",
                None,
            ),
            (
                "raw UTF-8 in target",
                "GET /caf\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes(),
                "/caf\u{e9}",
                None,
            ),
            (
                "extension method",
                b"PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n",
                "/x",
                None,
            ),
            (
                "HTTP/1.0 without Host",
                b"GET /old HTTP/1.0\r\n\r\n",
                "/old",
                None,
            ),
            (
                "empty Host (RFC 9110 §7.2)",
                b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
                "/",
                None,
            ),
            (
                "Host with IPv4 and port",
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
                "/",
                None,
            ),
            (
                "Host with pct-encoding",
                b"GET / HTTP/1.1\r\nHost: a%41b\r\n\r\n",
                "/",
                None,
            ),
            (
                "obs-text in a value",
                b"GET / HTTP/1.1\r\nHost: a\r\nX: \x80\xff\r\n\r\n",
                "/",
                None,
            ),
            (
                "tab OWS around a value",
                b"GET / HTTP/1.1\r\nHost:\ta\t \r\n\r\n",
                "/",
                None,
            ),
        ];
        for &(label, input, path, query) in table {
            let head = match parse(input) {
                Ok(Some(head)) => head,
                other => panic!("{label}: {other:?}"),
            };
            assert_eq!(head.path(), path, "{label}");
            assert_eq!(head.query(), query, "{label}");
        }
        assert_eq!(
            ok(b"GET / HTTP/1.1\r\nHost:\ta\t \r\n\r\n").headers["host"],
            "a"
        );
        assert_eq!(ok(b"GET /old HTTP/1.0\r\n\r\n").version, Version::HTTP_10);
        assert_eq!(
            ok(b"PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n").method.as_str(),
            "PURGE"
        );
    }

    #[test]
    fn request_line_errors() {
        use ParseError::*;
        rejects(&[
            (
                "HTTP/2.0",
                b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
                UnsupportedVersion,
            ),
            (
                "HTTP/1.2",
                b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
                UnsupportedVersion,
            ),
            (
                "HTTP/3",
                b"GET / HTTP/3\r\nHost: a\r\n\r\n",
                UnsupportedVersion,
            ),
            (
                "HTTP/0.9 style version",
                b"GET / HTTP/0.9\r\n\r\n",
                UnsupportedVersion,
            ),
            (
                "HTXP/1.1",
                b"GET / HTXP/1.1\r\nHost: a\r\n\r\n",
                BadRequestLine,
            ),
            (
                "lowercase http",
                b"GET / http/1.1\r\nHost: a\r\n\r\n",
                BadRequestLine,
            ),
            (
                "HTTP/1.x",
                b"GET / HTTP/1.x\r\nHost: a\r\n\r\n",
                BadRequestLine,
            ),
            (
                "HTTP/1.10",
                b"GET / HTTP/1.10\r\nHost: a\r\n\r\n",
                BadRequestLine,
            ),
            ("no version (HTTP/0.9)", b"GET /\r\n\r\n", BadRequestLine),
            (
                "space after version",
                b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
                BadRequestLine,
            ),
            (
                "double space",
                b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
                BadRequestLine,
            ),
            (
                "tab separator",
                b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n",
                BadRequestLine,
            ),
            (
                "bare CR after version",
                b"GET / HTTP/1.1\rHost: a\r\n\r\n",
                BadRequestLine,
            ),
            (
                "bare CR in target",
                b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n",
                BadRequestLine,
            ),
            (
                "bare CR before request line",
                b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n",
                BadRequestLine,
            ),
            (
                "NUL in method",
                b"G\0T / HTTP/1.1\r\nHost: a\r\n\r\n",
                BadRequestLine,
            ),
            (
                "DEL in method",
                b"G\x7fT / HTTP/1.1\r\nHost: a\r\n\r\n",
                BadRequestLine,
            ),
            (
                "separator in method",
                b"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n",
                BadRequestLine,
            ),
            (
                "NUL in target",
                b"GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n",
                BadRequestLine,
            ),
            (
                "invalid UTF-8 in target",
                b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n",
                BadRequestLine,
            ),
        ]);
    }

    #[test]
    fn target_errors() {
        use ParseError::*;
        rejects(&[
            (
                "fragment",
                b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",
                BadTarget,
            ),
            (
                "asterisk for GET",
                b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
                BadTarget,
            ),
            (
                "authority-form for GET",
                b"GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n",
                BadTarget,
            ),
            (
                "relative path",
                b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n",
                BadTarget,
            ),
            (
                "CONNECT origin-form",
                b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n",
                BadTarget,
            ),
            (
                "CONNECT without port",
                b"CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n",
                BadTarget,
            ),
            (
                "CONNECT empty port",
                b"CONNECT example.com: HTTP/1.1\r\nHost: a\r\n\r\n",
                BadTarget,
            ),
            (
                "CONNECT without host",
                b"CONNECT :443 HTTP/1.1\r\nHost: a\r\n\r\n",
                BadTarget,
            ),
            (
                "absolute-form without //",
                b"GET http:/a HTTP/1.1\r\nHost: a\r\n\r\n",
                BadTarget,
            ),
            (
                "absolute-form empty host",
                b"GET http:///a HTTP/1.1\r\nHost: a\r\n\r\n",
                BadTarget,
            ),
            (
                "absolute-form userinfo",
                b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n",
                BadTarget,
            ),
            (
                "absolute-form bad scheme",
                b"GET 1ttp://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
                BadTarget,
            ),
        ]);
    }

    #[test]
    fn header_syntax_errors() {
        use ParseError::*;
        rejects(&[
            ("ws before colon (§5.1)", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", BadHeader),
            ("tab before colon (§5.1)", b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", BadHeader),
            ("obs-fold (§5.2)", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", BadHeader),
            ("obs-fold with tab (§5.2)", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n", BadHeader),
            ("ws before first header", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", BadHeader),
            ("bare CR in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n", BadHeader),
            ("bare CR ending value", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\r\n\r\n", BadHeader),
            ("bare CR in name", b"GET / HTTP/1.1\r\nHost: a\r\nX\r: b\r\n\r\n", BadHeader),
            ("bare CR ending the head", b"GET / HTTP/1.1\r\nHost: a\r\n\rX", BadHeader),
            ("NUL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\0c\r\n\r\n", BadHeader),
            ("NUL in a long value", b"GET / HTTP/1.1\r\nHost: a\r\nX: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\0c\r\n\r\n", BadHeader),
            ("DEL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\x7f\r\n\r\n", BadHeader),
            ("VT in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: \x0b\r\n\r\n", BadHeader),
            ("empty name", b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", BadHeader),
            ("no colon", b"GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", BadHeader),
            ("separator in name", b"GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n", BadHeader),
            ("non-ASCII name", b"GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: b\r\n\r\n", BadHeader),
        ]);
    }

    #[test]
    fn host_rules() {
        use ParseError::*;
        rejects(&[
            (
                "1.1 without Host (§3.2)",
                b"GET / HTTP/1.1\r\n\r\n",
                MissingHost,
            ),
            (
                "1.1 with two Host lines (§3.2)",
                b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
                DuplicateHost,
            ),
            (
                "1.1 with two Host lines, mixed case",
                b"GET / HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n",
                DuplicateHost,
            ),
            (
                "1.0 with two Host lines (§3.2)",
                b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
                DuplicateHost,
            ),
            (
                "Host list",
                b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n",
                BadHost,
            ),
            (
                "Host with path",
                b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
                BadHost,
            ),
            (
                "Host with userinfo",
                b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
                BadHost,
            ),
            (
                "Host with bad port",
                b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n",
                BadHost,
            ),
            (
                "Host with bad pct",
                b"GET / HTTP/1.1\r\nHost: a%4\r\n\r\n",
                BadHost,
            ),
            (
                "Host with space",
                b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
                BadHost,
            ),
            (
                "Host unclosed IPv6",
                b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
                BadHost,
            ),
            (
                "Host IPv6 junk after",
                b"GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n",
                BadHost,
            ),
            (
                "1.0 with bad Host",
                b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n",
                BadHost,
            ),
        ]);
        assert_eq!(
            ok(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n").headers["host"],
            "a"
        );
        assert!(ok(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n").keep_alive);
    }

    #[test]
    fn content_length_accepted() {
        let table: &[(&str, u64)] = &[
            ("Content-Length: 0", 0),
            ("Content-Length: 5", 5),
            ("Content-Length:  5 \t", 5),
            ("Content-Length: 007", 7),
            ("Content-Length: 18446744073709551615", u64::MAX),
        ];
        for &(lines, want) in table {
            let head = ok(&with_headers(&format!("{lines}\r\n")));
            assert_eq!(head.framing, BodyFraming::Length(want), "{lines}");
        }
    }

    #[test]
    fn content_length_errors() {
        use ParseError::*;
        let table: &[(&str, ParseError)] = &[
            ("Content-Length: +5", BadContentLength),
            ("Content-Length: -1", BadContentLength),
            ("Content-Length: 0x10", BadContentLength),
            ("Content-Length: 1_0", BadContentLength),
            ("Content-Length: 5 5", BadContentLength),
            ("Content-Length: 5.0", BadContentLength),
            ("Content-Length: ", BadContentLength),
            ("Content-Length: 5,", BadContentLength),
            ("Content-Length: ,5", BadContentLength),
            ("Content-Length: 18446744073709551616", BadContentLength),
            ("Content-Length: 99999999999999999999999", BadContentLength),
            ("Content-Length: \u{664}", BadContentLength), // Arabic-Indic four: not DIGIT
            // RFC 9112 §6.3 item 5: lists and repeated lines are rejected even when they agree.
            ("Content-Length: 5, 5", BadContentLength),
            ("Content-Length: 5,5", BadContentLength),
            ("Content-Length: 5, 5,5", BadContentLength),
            ("Content-Length: 5, 6", BadContentLength),
            ("Content-Length: 0, 0", BadContentLength),
            (
                "Content-Length: 5\r\nContent-Length: 5",
                DuplicateContentLength,
            ),
            (
                "Content-Length: 5\r\ncontent-length: 005",
                DuplicateContentLength,
            ),
            (
                "Content-Length: 5\r\nContent-Length: 6",
                DuplicateContentLength,
            ),
            (
                "Content-Length: 5\r\nX: y\r\nContent-Length: 5",
                DuplicateContentLength,
            ),
            (
                "Content-Length: 5\r\nContent-Length: x",
                DuplicateContentLength,
            ),
            (
                "Content-Length: 5\r\nContent-Length:",
                DuplicateContentLength,
            ),
        ];
        for &(lines, want) in table {
            assert_eq!(
                parse(&with_headers(&format!("{lines}\r\n"))).unwrap_err(),
                want,
                "{lines}"
            );
        }
    }

    #[test]
    fn duplicate_content_length_with_transfer_encoding() {
        // The Content-Length rules come first: a duplicate is reported as such even with TE.
        assert_eq!(
            parse(&with_headers(
                "Content-Length: 5\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
            ))
            .unwrap_err(),
            ParseError::DuplicateContentLength
        );
    }

    fn permissive() -> Limits {
        Limits {
            allow_bare_lf: true,
            ..Limits::default()
        }
    }

    /// Heads with bare LFs (RFC 9112 §2.2), and what `allow_bare_lf: true` makes of them
    /// (`None`: a head; `Some(err)`: that error, from some other fault). The default answer is
    /// `BareLf` for every row.
    const BARE_LF: &[(&str, &[u8], Option<ParseError>)] = &[
        ("every line end", b"GET /lf HTTP/1.1\nHost: a\n\n", None),
        ("request line", b"GET /lf HTTP/1.1\nHost: a\r\n\r\n", None),
        (
            "between header lines",
            b"GET /lf HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
            None,
        ),
        (
            "last header line",
            b"GET /lf HTTP/1.1\r\nHost: a\n\r\n",
            None,
        ),
        (
            "final empty line (CRLF LF)",
            b"GET /lf HTTP/1.1\r\nHost: a\r\n\n",
            None,
        ),
        (
            "final empty line, no headers",
            b"GET /lf HTTP/1.0\r\n\n",
            None,
        ),
        (
            "leading empty line",
            b"\nGET /lf HTTP/1.1\r\nHost: a\r\n\r\n",
            None,
        ),
        (
            "leading empty lines, CRLF then LF",
            b"\r\n\nGET /lf HTTP/1.1\r\nHost: a\r\n\r\n",
            None,
        ),
        // A bare LF in the middle of a value ends the line, leaving a line without a colon.
        (
            "inside a value",
            b"GET /lf HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n",
            Some(ParseError::BadHeader),
        ),
        (
            "request line cut short",
            b"GET /lf\nHost: a\r\n\r\n",
            Some(ParseError::BadRequestLine),
        ),
        (
            "before a malformed field",
            b"GET /lf HTTP/1.1\nHost: a\r\nBad Name: v\r\n\r\n",
            Some(ParseError::BadHeader),
        ),
        (
            "before obs-fold",
            b"GET /lf HTTP/1.1\r\nHost: a\nX: b\n c\r\n\r\n",
            Some(ParseError::BadHeader),
        ),
        (
            "with a body after the head",
            b"POST /lf HTTP/1.1\nHost: a\nContent-Length: 2\n\n\n\n",
            None,
        ),
    ];

    #[test]
    fn bare_lf_is_rejected_by_default() {
        for &(label, input, _) in BARE_LF {
            assert_eq!(parse(input).unwrap_err(), ParseError::BareLf, "{label}");
        }
        assert_eq!(ParseError::BareLf.status().as_u16(), 400);
    }

    #[test]
    fn bare_lf_is_accepted_when_allowed() {
        for &(label, input, want) in BARE_LF {
            match (parse_with(input, &permissive()), want) {
                (Ok(Some(head)), None) => {
                    assert_eq!(head.path(), "/lf", "{label}");
                    assert!(head.headers.len() <= 2, "{label}");
                }
                (Err(got), Some(want)) => assert_eq!(got, want, "{label}"),
                (got, want) => panic!("{label}: got {got:?}, want {want:?}"),
            }
        }
        // The head ends at the bare-LF empty line; what follows is the body.
        let mut buf =
            BytesMut::from(&b"POST / HTTP/1.1\nHost: a\nContent-Length: 2\n\n\n\nGET"[..]);
        let head = parse_head(&mut buf, &permissive()).unwrap().unwrap();
        assert_eq!(head.framing, BodyFraming::Length(2));
        assert_eq!(&buf[..], b"\n\nGET");
    }

    /// Bare LFs in the body are not the head's business: only head bytes are scanned.
    #[test]
    fn bare_lf_after_the_head_is_body() {
        let mut buf = BytesMut::from(
            &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n\na\nGET / HTTP/1.1\n"[..],
        );
        let head = parse_head(&mut buf, &Limits::default()).unwrap().unwrap();
        assert_eq!(head.framing, BodyFraming::Length(3));
        assert_eq!(&buf[..], b"\na\nGET / HTTP/1.1\n");
    }

    /// CRLF everywhere is fine in both modes; bare CR and obs-fold are errors in both, with
    /// their own causes (the bare LF setting does not touch them).
    #[test]
    fn crlf_bare_cr_and_obs_fold_ignore_the_setting() {
        use ParseError::*;
        let table: &[(&str, &[u8], Option<ParseError>)] = &[
            ("CRLF", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\r\n", None),
            (
                "CRLF leading line",
                b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
                None,
            ),
            (
                "bare CR after version",
                b"GET / HTTP/1.1\rHost: a\r\n\r\n",
                Some(BadRequestLine),
            ),
            (
                "bare CR before request line",
                b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n",
                Some(BadRequestLine),
            ),
            (
                "bare CR in value",
                b"GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n",
                Some(BadHeader),
            ),
            (
                "bare CR ending the head",
                b"GET / HTTP/1.1\r\nHost: a\r\n\rX",
                Some(BadHeader),
            ),
            (
                "bare CR then LF later",
                b"GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\n\r\n",
                Some(BadHeader),
            ),
            (
                "obs-fold (§5.2)",
                b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n",
                Some(BadHeader),
            ),
            (
                "obs-fold with tab",
                b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n",
                Some(BadHeader),
            ),
            (
                "malformed field before a bare LF",
                b"GET / HTTP/1.1\r\nBad Name: v\nHost: a\r\n\r\n",
                Some(BadHeader),
            ),
        ];
        for limits in [Limits::default(), permissive()] {
            for &(label, input, want) in table {
                match (parse_with(input, &limits), want) {
                    (Ok(Some(_)), None) => {}
                    (Err(got), Some(want)) => assert_eq!(got, want, "{label}"),
                    (got, want) => panic!("{label}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    /// A head parsed whole, as (target, bytes left unread) or the error.
    type Answer = Result<Option<(String, Vec<u8>)>, ParseError>;

    /// Parse `input` whole, and again fed one byte at a time up to the first answer that is
    /// not "incomplete" (then the rest is appended, as if it had arrived too): both must agree.
    fn whole_and_bytewise(input: &[u8], limits: &Limits) -> Answer {
        let mut whole = BytesMut::from(input);
        let want = parse_head(&mut whole, limits).map(|h| h.map(|h| (h.target, whole.to_vec())));
        let mut buf = BytesMut::new();
        let mut got = Ok(None);
        for (i, &b) in input.iter().enumerate() {
            buf.extend_from_slice(&[b]);
            let res = parse_head(&mut buf, limits);
            if !matches!(res, Ok(None)) {
                buf.extend_from_slice(&input[i + 1..]);
                got = res.map(|h| h.map(|h| (h.target, buf.to_vec())));
                break;
            }
        }
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(input));
        want
    }

    #[test]
    fn bare_lf_rule_is_split_invariant() {
        for &(label, input, want) in BARE_LF {
            let strict = whole_and_bytewise(input, &Limits::default());
            assert_eq!(strict, Err(ParseError::BareLf), "{label}");
            match (whole_and_bytewise(input, &permissive()), want) {
                (Ok(Some(_)), None) => {}
                (got, want) => assert_eq!(got, want.map_or(Ok(None), Err), "{label}"),
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Heads made of good and bad lines with CRLF, LF or CR line ends: fed whole or byte by
        /// byte, the answer is the same; by default no head with a bare LF gets through, and
        /// with `allow_bare_lf` a bare LF is never the reason for an error.
        #[test]
        fn line_ends_split_invariant(
            lines in proptest::collection::vec((0..7usize, 0..3usize), 1..8),
            last_eol in 0..3usize,
            allow_bare_lf: bool,
        ) {
            const LINES: &[&str] = &[
                "GET /p HTTP/1.1", "Host: a", "X: 1", "Bad Name: v", " folded", "",
                "Content-Length: 1",
            ];
            const EOLS: &[&str] = &["\r\n", "\n", "\r"];
            let mut input = String::new();
            for &(line, eol) in &lines {
                input.push_str(LINES[line]);
                input.push_str(EOLS[eol]);
            }
            input.push_str(EOLS[last_eol]);
            input.push('x');
            let limits = Limits { allow_bare_lf, ..Limits::default() };
            match whole_and_bytewise(input.as_bytes(), &limits) {
                Ok(Some((_, left))) if !allow_bare_lf => {
                    let head = &input.as_bytes()[..input.len() - left.len()];
                    proptest::prop_assert_eq!(first_bare_lf(head), None);
                }
                Err(ParseError::BareLf) => proptest::prop_assert!(!allow_bare_lf),
                _ => {}
            }
        }
    }

    #[test]
    fn transfer_encoding() {
        use ParseError::*;
        let table: &[(&str, Result<BodyFraming, ParseError>)] = &[
            ("Transfer-Encoding: chunked", Ok(BodyFraming::Chunked)),
            ("Transfer-Encoding: CHUNKED", Ok(BodyFraming::Chunked)),
            ("Transfer-Encoding:  chunked ", Ok(BodyFraming::Chunked)),
            ("Transfer-Encoding: ,chunked,", Ok(BodyFraming::Chunked)),
            (
                "Transfer-Encoding:\r\nTransfer-Encoding: chunked",
                Ok(BodyFraming::Chunked),
            ),
            // Unknown codings before a final chunked: framing is sound, coding unsupported.
            (
                "Transfer-Encoding: gzip, chunked",
                Err(UnknownTransferCoding),
            ),
            (
                "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked",
                Err(UnknownTransferCoding),
            ),
            // No final chunked: length undeterminable (§6.3 item 4).
            (
                "Transfer-Encoding: gzip",
                Err(TransferEncodingNotChunkedLast),
            ),
            (
                "Transfer-Encoding: chunked, gzip",
                Err(TransferEncodingNotChunkedLast),
            ),
            (
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip",
                Err(TransferEncodingNotChunkedLast),
            ),
            (
                "Transfer-Encoding: chunked, chunked",
                Err(TransferEncodingNotChunkedLast),
            ),
            (
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
                Err(TransferEncodingNotChunkedLast),
            ),
            (
                "Transfer-Encoding: chunked;x=y",
                Err(TransferEncodingNotChunkedLast),
            ),
            (
                "Transfer-Encoding: \"chunked\"",
                Err(TransferEncodingNotChunkedLast),
            ),
            ("Transfer-Encoding: ", Err(TransferEncodingNotChunkedLast)),
            // Smuggling shapes (§6.3 item 3).
            (
                "Transfer-Encoding: chunked\r\nContent-Length: 5",
                Err(ContentLengthWithTransferEncoding),
            ),
            (
                "Content-Length: 5\r\nTransfer-Encoding: chunked",
                Err(ContentLengthWithTransferEncoding),
            ),
            (
                "Content-Length: 0\r\nTransfer-Encoding: gzip",
                Err(ContentLengthWithTransferEncoding),
            ),
            (
                "Content-Length: x\r\nTransfer-Encoding: chunked",
                Err(BadContentLength),
            ),
        ];
        for &(lines, want) in table {
            let got = parse(&with_headers(&format!("{lines}\r\n"))).map(|h| h.unwrap().framing);
            assert_eq!(got, want, "{lines}");
        }
        // §6.1: any Transfer-Encoding in HTTP/1.0 is faulty framing.
        for lines in [
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: chunked\r\nContent-Length: 5",
        ] {
            let input = format!("POST / HTTP/1.0\r\n{lines}\r\n\r\n");
            assert_eq!(
                parse(input.as_bytes()).unwrap_err(),
                TransferEncodingInHttp10,
                "{lines}"
            );
        }
    }

    #[test]
    fn no_framing_headers_means_empty_body() {
        // §6.3 item 7: requests are never close-delimited.
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\nHost: a\r\n\r\nleftover").framing,
            BodyFraming::Empty
        );
        assert_eq!(ok(b"POST / HTTP/1.0\r\n\r\n").framing, BodyFraming::Empty);
    }

    #[test]
    fn content_length_over_body_limit_is_not_a_head_error() {
        let limits = Limits {
            max_body_bytes: 10,
            ..Limits::default()
        };
        let head = parse_with(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n",
            &limits,
        );
        assert_eq!(head.unwrap().unwrap().framing, BodyFraming::Length(11));
    }

    #[test]
    fn keep_alive_and_expect() {
        // (input lines after the request line, keep_alive, expect_continue)
        let table: &[(&str, bool, bool)] = &[
            ("GET / HTTP/1.1\r\nHost: a", true, false),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: close",
                false,
                false,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE",
                false,
                false,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: te, Close",
                false,
                false,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: te\r\nConnection: close",
                false,
                false,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed",
                true,
                false,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive",
                true,
                false,
            ),
            ("GET / HTTP/1.0", false, false),
            ("GET / HTTP/1.0\r\nConnection: keep-alive", true, false),
            ("GET / HTTP/1.0\r\nConnection: Keep-Alive", true, false),
            ("GET / HTTP/1.0\r\nConnection: foo,keep-alive", true, false),
            (
                "GET / HTTP/1.0\r\nConnection: keep-alive, close",
                false,
                false,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue",
                true,
                true,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue",
                true,
                true,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continuex",
                true,
                false,
            ),
            ("POST / HTTP/1.0\r\nExpect: 100-continue", false, false),
        ];
        for &(lines, keep_alive, expect) in table {
            let head = ok(format!("{lines}\r\n\r\n").as_bytes());
            assert_eq!(head.keep_alive, keep_alive, "{lines}");
            assert_eq!(head.expect_continue, expect, "{lines}");
        }
    }

    #[test]
    fn headers_keep_order_and_duplicates() {
        let head = ok(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\nx: 3\r\n\r\n");
        let xs: Vec<_> = head.headers.get_all("x").iter().collect();
        assert_eq!(xs, ["1", "3"]);
        let names: Vec<_> = head.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["host", "x", "x", "y"]);
    }

    /// A head of exactly `len` bytes: request line, Host, one padding header.
    fn head_of_len(len: usize) -> Vec<u8> {
        let fixed = b"GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n".len();
        let mut head = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        head.resize(len - 4, b'p');
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(head.len(), len);
        assert!(len >= fixed);
        head
    }

    #[test]
    fn max_head_bytes_edge() {
        let limits = Limits {
            max_head_bytes: 200,
            ..Limits::default()
        };
        // Exactly at the limit passes, with or without bytes after it.
        assert!(parse_with(&head_of_len(200), &limits).unwrap().is_some());
        let mut with_body = head_of_len(200);
        with_body.extend_from_slice(b"body bytes beyond the limit");
        let mut buf = BytesMut::from(&with_body[..]);
        assert!(parse_head(&mut buf, &limits).unwrap().is_some());
        assert_eq!(&buf[..], b"body bytes beyond the limit");
        // One byte over fails, complete or not.
        assert_eq!(
            parse_with(&head_of_len(201), &limits).unwrap_err(),
            ParseError::HeadTooLarge
        );
        assert_eq!(
            parse_with(&head_of_len(300)[..201], &limits).unwrap_err(),
            ParseError::HeadTooLarge
        );
        // An incomplete head is only "too large" once the buffer is past the limit.
        assert!(parse_with(&head_of_len(201)[..200], &limits)
            .unwrap()
            .is_none());
        // Endless empty lines are bounded by the same limit.
        assert!(parse_with(&[b'\n'; 200], &limits).unwrap().is_none());
        assert_eq!(
            parse_with(&[b'\n'; 201], &limits).unwrap_err(),
            ParseError::HeadTooLarge
        );
    }

    #[test]
    fn max_headers_edge() {
        let limits = Limits {
            max_headers: 3,
            ..Limits::default()
        };
        let three = b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\n\r\n";
        assert_eq!(
            parse_with(three, &limits).unwrap().unwrap().headers.len(),
            3
        );
        let four = b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\nZ: 3\r\n\r\n";
        assert_eq!(
            parse_with(four, &limits).unwrap_err(),
            ParseError::TooManyHeaders
        );
        assert_eq!(ParseError::TooManyHeaders.status().as_u16(), 431);

        // Above the inline slot count the slots come from the heap; same edge.
        let limits = Limits {
            max_headers: INLINE_HEADER_SLOTS + 1,
            ..Limits::default()
        };
        let many = |n: usize| {
            let mut s = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
            for i in 1..n {
                s.push_str(&format!("X{i}: v\r\n"));
            }
            s.push_str("\r\n");
            s.into_bytes()
        };
        assert_eq!(
            parse_with(&many(INLINE_HEADER_SLOTS + 1), &limits)
                .unwrap()
                .unwrap()
                .headers
                .len(),
            INLINE_HEADER_SLOTS + 1
        );
        assert_eq!(
            parse_with(&many(INLINE_HEADER_SLOTS + 2), &limits).unwrap_err(),
            ParseError::TooManyHeaders
        );
        // And the default limit of 100 itself.
        assert!(parse(&many(100)).unwrap().is_some());
        assert_eq!(parse(&many(101)).unwrap_err(), ParseError::TooManyHeaders);
    }

    #[test]
    fn helpers() {
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b" \t"), b"");
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b""), None);
        assert!(is_http_version(b"HTTP/2"));
        assert!(is_http_version(b"HTTP/2."));
        assert!(!is_http_version(b"HTTP/"));
        assert!(!is_http_version(b"HTTP/.1"));
        assert_eq!(request_line(b"\r\n\nGET / X\r\nHost"), b"GET / X");
        assert_eq!(request_line(b"GET / X"), b"GET / X");
    }

    #[test]
    fn a_version_error_waits_for_the_line_end_so_splits_agree() {
        let limits = Limits::default();
        for (raw, want) in [
            (
                &b"GET /a1 HTTP/1.2\rx\n\r\n"[..],
                ParseError::BadRequestLine,
            ),
            (
                &b"GET / HTTP/9.9\r\nHost: t\r\n\r\n"[..],
                ParseError::UnsupportedVersion,
            ),
        ] {
            let whole = parse_head(&mut BytesMut::from(raw), &limits).unwrap_err();
            assert_eq!(whole, want, "{:?}", String::from_utf8_lossy(raw));
            // Every prefix is either "more, please" or that same answer (so `GET / HTTP/9.9`
            // without its line end waits, as `HTTP/1.2\rx` must).
            for n in 1..raw.len() {
                match parse_head(&mut BytesMut::from(&raw[..n]), &limits) {
                    Ok(None) => {}
                    Err(e) => {
                        assert_eq!(e, want, "prefix {n} of {:?}", String::from_utf8_lossy(raw))
                    }
                    Ok(Some(_)) => panic!("a prefix parsed as a whole head"),
                }
            }
        }
    }
}
