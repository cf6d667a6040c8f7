//! Response encoding: status line, header section and body framing (RFC 9112 §4, §6, §7).
//!
//! The server owns framing and connection management: the app says what status and fields it
//! wants, and [`encode_head`] decides how the body is delimited and whether the connection
//! stays open, writing the framing fields itself. Everything is written straight into the
//! caller's `BytesMut`; numbers are formatted on the stack, nothing allocates per response.

use std::fmt;
use std::io::Write as _;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap};
use http::{StatusCode, Version};

use super::date;

/// How a response body is framed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    /// `content-length: n`, exactly `n` bytes follow (RFC 9112 §6.3 item 5).
    Length(u64),
    /// `transfer-encoding: chunked` (RFC 9112 §7.1); HTTP/1.1 requests only.
    Chunked,
    /// The body ends when the connection closes (RFC 9112 §6.3 item 8); for HTTP/1.0 clients
    /// when the length is unknown.
    CloseDelimited,
    /// No body may be sent: HEAD, 1xx, 204, 304 (RFC 9112 §6.3 item 1).
    NoBody,
}

/// What the encoder needs to know about the request being answered.
#[derive(Clone, Copy, Debug)]
pub struct RequestInfo {
    /// The request method was HEAD: the response has no body (RFC 9110 §9.3.2).
    pub method_is_head: bool,
    /// The request's version; decides between chunked and close-delimited.
    pub version: Version,
    /// Whether the request allows the connection to stay open
    /// ([`RequestHead::keep_alive`](super::RequestHead::keep_alive)).
    pub keep_alive: bool,
}

/// Outcome of encoding a head.
#[derive(Debug)]
pub struct EncodedHead {
    /// Frames the body that follows the head.
    pub encoder: BodyEncoder,
    /// Final decision: whether the connection stays open after this response.
    pub keep_alive: bool,
}

/// Why a response could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The app set a Content-Length that is not 1*DIGIT, or several that differ.
    BadContentLength,
    /// The app wrote more body bytes than its Content-Length.
    TooMuch,
    /// The app ended the body short of its Content-Length.
    TooLittle {
        /// Bytes still owed.
        missing: u64,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BadContentLength => f.write_str("invalid Content-Length in response"),
            EncodeError::TooMuch => f.write_str("response body longer than its Content-Length"),
            EncodeError::TooLittle { missing } => write!(
                f,
                "response body shorter than its Content-Length by {missing} bytes"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

/// `HTTP/1.1 100 Continue\r\n\r\n`: the interim response to `Expect: 100-continue`
/// (RFC 9110 §10.1.1, §15.2.1).
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Write the status line and header section of a response to `dst` and decide the body framing
/// (RFC 9112 §6.1, §6.3; RFC 9110 §6.4.1, §8.6).
///
/// - 1xx, 204, 304, or a HEAD request: [`ResponseFraming::NoBody`]. For HEAD and 304 an app
///   Content-Length is written (it describes the representation, RFC 9110 §8.6); for 1xx and
///   204 it is dropped (a server MUST NOT send one there).
/// - else an app Content-Length: [`ResponseFraming::Length`].
/// - else an HTTP/1.1 request: [`ResponseFraming::Chunked`].
/// - else (HTTP/1.0): [`ResponseFraming::CloseDelimited`], and the connection closes.
///
/// The app's `transfer-encoding`, `connection` and `keep-alive` fields are not written: framing
/// and connection management belong to the server. An app `connection: close` does force the
/// connection closed. `connection: close` is written when the connection will close,
/// `connection: keep-alive` when it stays open for an HTTP/1.0 client. `date` and
/// `server: weir` are added unless the app set them.
///
/// An app Content-Length that is not 1*DIGIT, or several that differ, is
/// [`EncodeError::BadContentLength`] wherever it would be written; `dst` is then unchanged.
pub fn encode_head(
    dst: &mut BytesMut,
    status: StatusCode,
    headers: &HeaderMap,
    req: RequestInfo,
) -> Result<EncodedHead, EncodeError> {
    // RFC 9110 §8.6: no Content-Length in a 1xx or 204 response, whatever the app says.
    let forbids_length = status.is_informational() || status == StatusCode::NO_CONTENT;

    // One pass over the app's fields: write the ones that go out as they are, and note what
    // decides the framing. (Looking each field up by name costs a hash per lookup; a pass
    // compares standard names, which is cheap, and this runs once per response.)
    let start = dst.len();
    dst.reserve(256);
    write_status_line(dst, status);
    let mut fields = Fields::default();
    for (name, value) in headers {
        // Hop-by-hop fields the server owns (RFC 9110 §7.6.1), and Content-Length, which is
        // rewritten below in canonical form.
        if name == header::CONTENT_LENGTH {
            // Dropped unread where no length may be sent.
            if !forbids_length {
                if let Err(e) = fields.content_length(value.as_bytes()) {
                    dst.truncate(start);
                    return Err(e);
                }
            }
            continue;
        }
        if name == header::CONNECTION {
            fields.close |= has_close(value.as_bytes());
            continue;
        }
        if name == header::TRANSFER_ENCODING || name.as_str() == "keep-alive" {
            continue;
        }
        fields.date |= name == header::DATE;
        fields.server |= name == header::SERVER;
        write_field(dst, name.as_str().as_bytes(), value.as_bytes());
    }
    let length = fields.length;

    let mut keep_alive = req.keep_alive && !fields.close;
    // RFC 9112 §6.3 item 1: these responses end at the end of the header section.
    let framing = if forbids_length || status == StatusCode::NOT_MODIFIED || req.method_is_head {
        ResponseFraming::NoBody
    } else if let Some(n) = length {
        ResponseFraming::Length(n)
    } else if req.version == Version::HTTP_11 {
        // §6.1: chunked only to clients that said HTTP/1.1.
        ResponseFraming::Chunked
    } else {
        // §6.3 item 8: an HTTP/1.0 client can only learn the end of an unknown-length body
        // from the connection closing.
        keep_alive = false;
        ResponseFraming::CloseDelimited
    };

    if let Some(n) = length {
        dst.extend_from_slice(b"content-length: ");
        write_decimal(dst, n);
        dst.extend_from_slice(b"\r\n");
    }
    if framing == ResponseFraming::Chunked {
        dst.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    // RFC 9112 §9.6: a server that is going to close says so; §9.3: an HTTP/1.0 client only
    // keeps the connection if told it persists.
    if !keep_alive {
        dst.extend_from_slice(b"connection: close\r\n");
    } else if req.version == Version::HTTP_10 {
        dst.extend_from_slice(b"connection: keep-alive\r\n");
    }
    write_date_and_server(dst, fields.date, fields.server);
    dst.extend_from_slice(b"\r\n");

    let remaining = match framing {
        ResponseFraming::Length(n) => n,
        _ => 0,
    };
    Ok(EncodedHead {
        encoder: BodyEncoder {
            framing,
            state: EncoderState::Open { remaining },
        },
        keep_alive,
    })
}

/// Minimal complete response for framing errors and app failures: `text/plain` body `msg` plus
/// a newline, with content-length, date, server, and `connection: close` if `!keep_alive`.
///
/// Meant for statuses that carry a body (4xx, 5xx); it knows nothing of the request, so the
/// caller must not use it to answer HEAD.
pub fn encode_simple(dst: &mut BytesMut, status: StatusCode, msg: &str, keep_alive: bool) {
    dst.reserve(160 + msg.len());
    write_status_line(dst, status);
    dst.extend_from_slice(b"content-type: text/plain; charset=utf-8\r\ncontent-length: ");
    write_decimal(dst, msg.len() as u64 + 1);
    dst.extend_from_slice(b"\r\n");
    if !keep_alive {
        dst.extend_from_slice(b"connection: close\r\n");
    }
    write_date_and_server(dst, false, false);
    dst.extend_from_slice(b"\r\n");
    dst.extend_from_slice(msg.as_bytes());
    dst.extend_from_slice(b"\n");
}

/// The head of a `101 Switching Protocols` answer to a WebSocket handshake (RFC 6455
/// §4.2.2 item 5; RFC 9110 §15.2.2): `Upgrade: websocket` and `Connection: Upgrade`, the
/// app's `headers` (`Sec-WebSocket-Accept`, `Sec-WebSocket-Protocol`), date and server.
///
/// No body framing at all: a 1xx has no Content-Length (RFC 9110 §8.6) and no body (RFC
/// 9112 §6.3 item 1), and after it the bytes belong to the new protocol. The app's own
/// framing and connection fields are dropped, as in [`encode_head`].
pub fn encode_switching(dst: &mut BytesMut, headers: &HeaderMap) {
    dst.reserve(256);
    write_status_line(dst, StatusCode::SWITCHING_PROTOCOLS);
    dst.extend_from_slice(b"upgrade: websocket\r\nconnection: Upgrade\r\n");
    let (mut has_date, mut has_server) = (false, false);
    for (name, value) in headers {
        if name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
            || name == header::CONTENT_LENGTH
            || name == header::UPGRADE
            || name.as_str() == "keep-alive"
        {
            continue;
        }
        has_date |= name == header::DATE;
        has_server |= name == header::SERVER;
        write_field(dst, name.as_str().as_bytes(), value.as_bytes());
    }
    write_date_and_server(dst, has_date, has_server);
    dst.extend_from_slice(b"\r\n");
}

/// Where encoded body bytes go: a plain buffer copies them; a writer that queues buffers
/// can take large data by reference ([`BodyEncoder::encode_bytes`]).
pub trait BodySink {
    /// Append framing or small data.
    fn put_slice(&mut self, bytes: &[u8]);
    /// Append body data the sink may keep by reference.
    fn put_bytes(&mut self, bytes: Bytes) {
        self.put_slice(&bytes);
    }
}

impl BodySink for BytesMut {
    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Frames a response body on the wire.
#[derive(Debug)]
pub struct BodyEncoder {
    framing: ResponseFraming,
    state: EncoderState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EncoderState {
    /// Accepting body bytes; for `Length`, this many are still owed.
    Open { remaining: u64 },
    /// `finish` succeeded; nothing more may be written.
    Finished,
}

impl BodyEncoder {
    /// How this body is framed.
    pub fn framing(&self) -> ResponseFraming {
        self.framing
    }

    /// Encode one body piece into `dst`. Empty data writes nothing: a zero-size chunk would end
    /// a chunked body (RFC 9112 §7.1).
    ///
    /// `Length`: writes at most the bytes still owed; more is [`EncodeError::TooMuch`], after the
    /// part that fits has been written. `NoBody`: discards. `Chunked`: `{hex}\r\n{data}\r\n`.
    /// `CloseDelimited`: raw. After [`finish`](Self::finish), any data is `TooMuch` (except for
    /// `NoBody`, which discards it).
    pub fn encode(&mut self, data: &[u8], dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.frame(data.len(), dst, |dst, n| dst.extend_from_slice(&data[..n]))
    }

    /// Encode one body piece into a [`BodySink`], handing the data over by reference
    /// ([`BodySink::put_bytes`]) so a sink that queues buffers writes it without copying.
    /// Same framing and errors as [`encode`](Self::encode).
    pub fn encode_bytes<S: BodySink + ?Sized>(
        &mut self,
        data: Bytes,
        dst: &mut S,
    ) -> Result<(), EncodeError> {
        self.frame(data.len(), dst, |dst, n| dst.put_bytes(data.slice(..n)))
    }

    /// Frame `len` body bytes around `put(dst, n)`, which writes the first `n` of them: the
    /// framing rules shared by [`encode`](Self::encode) and
    /// [`encode_bytes`](Self::encode_bytes).
    fn frame<S: BodySink + ?Sized>(
        &mut self,
        len: usize,
        dst: &mut S,
        put: impl FnOnce(&mut S, usize),
    ) -> Result<(), EncodeError> {
        if len == 0 || self.framing == ResponseFraming::NoBody {
            return Ok(());
        }
        let EncoderState::Open { remaining } = self.state else {
            return Err(EncodeError::TooMuch);
        };
        match self.framing {
            ResponseFraming::Length(_) => {
                let fits = usize::try_from(remaining).map_or(len, |r| r.min(len));
                put(dst, fits);
                self.state = EncoderState::Open {
                    remaining: remaining - fits as u64,
                };
                if fits < len {
                    return Err(EncodeError::TooMuch);
                }
            }
            ResponseFraming::Chunked => {
                // chunk = chunk-size CRLF chunk-data CRLF (RFC 9112 §7.1).
                let mut line = [0u8; 18];
                dst.put_slice(chunk_size_line(len as u64, &mut line));
                put(dst, len);
                dst.put_slice(b"\r\n");
            }
            ResponseFraming::CloseDelimited => put(dst, len),
            ResponseFraming::NoBody => {}
        }
        Ok(())
    }

    /// End of body. `Chunked` writes the last-chunk and the empty trailer section, `0\r\n\r\n`
    /// (RFC 9112 §7.1); `Length` with bytes still owed is [`EncodeError::TooLittle`]. Calling it
    /// again after success writes nothing.
    pub fn finish(&mut self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let EncoderState::Open { remaining } = self.state else {
            return Ok(());
        };
        match self.framing {
            ResponseFraming::Length(_) if remaining > 0 => {
                return Err(EncodeError::TooLittle { missing: remaining })
            }
            ResponseFraming::Chunked => dst.extend_from_slice(b"0\r\n\r\n"),
            _ => {}
        }
        self.state = EncoderState::Finished;
        Ok(())
    }

    /// Whether the connection must close after this body: a close-delimited body ends only when
    /// the connection does (RFC 9112 §6.3 item 8).
    pub fn closes_connection(&self) -> bool {
        self.framing == ResponseFraming::CloseDelimited
    }
}

/// What the app's fields say about framing, gathered in `encode_head`'s one pass.
#[derive(Default)]
struct Fields {
    /// The app's Content-Length, once seen.
    length: Option<u64>,
    /// A `close` connection option.
    close: bool,
    /// The app set its own `date` / `server`.
    date: bool,
    server: bool,
}

impl Fields {
    /// One Content-Length field line: digits, or a list of equal digits (RFC 9110 §8.6
    /// allows a sender's list only of identical values); every line must agree.
    fn content_length(&mut self, value: &[u8]) -> Result<(), EncodeError> {
        for item in value.split(|&b| b == b',') {
            let item = item.trim_ascii();
            if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
                return Err(EncodeError::BadContentLength);
            }
            let n = item
                .iter()
                .try_fold(0u64, |n, &b| {
                    n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
                })
                .ok_or(EncodeError::BadContentLength)?;
            match self.length {
                Some(prev) if prev != n => return Err(EncodeError::BadContentLength),
                _ => self.length = Some(n),
            }
        }
        Ok(())
    }
}

/// Whether one Connection field value holds the `close` option.
fn has_close(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(b"close"))
}

/// status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4). We
/// always speak HTTP/1.1, whatever the request's minor version (RFC 9110 §2.5).
fn write_status_line(dst: &mut BytesMut, status: StatusCode) {
    dst.extend_from_slice(b"HTTP/1.1 ");
    dst.extend_from_slice(status.as_str().as_bytes());
    dst.extend_from_slice(b" ");
    dst.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    dst.extend_from_slice(b"\r\n");
}

fn write_field(dst: &mut BytesMut, name: &[u8], value: &[u8]) {
    dst.extend_from_slice(name);
    dst.extend_from_slice(b": ");
    dst.extend_from_slice(value);
    dst.extend_from_slice(b"\r\n");
}

/// `date` (RFC 9110 §6.6.1: an origin server with a clock MUST send it) and `server`, unless the
/// app set its own.
fn write_date_and_server(dst: &mut BytesMut, has_date: bool, has_server: bool) {
    if !has_date {
        write_field(dst, b"date", &date::now());
    }
    if !has_server {
        write_field(dst, b"server", b"weir");
    }
}

/// `n` in decimal, formatted on the stack by `itoa` (no allocation, no `fmt` machinery).
fn write_decimal(dst: &mut BytesMut, n: u64) {
    dst.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `n` in lowercase hex followed by CRLF, formatted into `buf` on the stack (no allocation
/// per chunk): at most 16 hex digits for a `u64`, plus CRLF, fits its 18 bytes.
fn chunk_size_line(n: u64, buf: &mut [u8; 18]) -> &[u8] {
    let mut rest = &mut buf[..];
    write!(rest, "{n:x}\r\n").expect("a u64 in hex and CRLF fit in 18 bytes");
    let len = 18 - rest.len();
    &buf[..len]
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const H11: RequestInfo = RequestInfo {
        method_is_head: false,
        version: Version::HTTP_11,
        keep_alive: true,
    };
    const H10_KA: RequestInfo = RequestInfo {
        method_is_head: false,
        version: Version::HTTP_10,
        keep_alive: true,
    };

    fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for &(name, value) in fields {
            map.append(name, HeaderValue::from_static(value));
        }
        map
    }

    /// Encode and return (head text with the date value masked, encoded head).
    fn encode(
        status: u16,
        fields: &[(&'static str, &'static str)],
        req: RequestInfo,
    ) -> Result<(String, EncodedHead), EncodeError> {
        let mut dst = BytesMut::new();
        let res = encode_head(
            &mut dst,
            StatusCode::from_u16(status).unwrap(),
            &headers(fields),
            req,
        );
        if res.is_err() {
            assert!(dst.is_empty(), "nothing written on error");
        }
        let head = res?;
        Ok((mask_date(&dst), head))
    }

    /// Replace the 29-byte date value with `<date>`, checking it is a valid IMF-fixdate.
    fn mask_date(bytes: &[u8]) -> String {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        match text.find("date: ") {
            Some(i) => {
                let value = &text[i + 6..i + 6 + 29];
                assert!(httpdate::parse_http_date(value).is_ok(), "{value}");
                format!("{}<date>{}", &text[..i + 6], &text[i + 6 + 29..])
            }
            None => text,
        }
    }

    /// (label, status, app fields, request, expected framing, expected keep_alive)
    type FramingCase = (
        &'static str,
        u16,
        &'static [(&'static str, &'static str)],
        RequestInfo,
        ResponseFraming,
        bool,
    );

    #[test]
    fn framing_decisions() {
        let head = RequestInfo {
            method_is_head: true,
            ..H11
        };
        let h10_close = RequestInfo {
            keep_alive: false,
            ..H10_KA
        };
        let table: &[FramingCase] = &[
            (
                "1.1 with length",
                200,
                &[("content-length", "5")],
                H11,
                ResponseFraming::Length(5),
                true,
            ),
            (
                "1.1 without length",
                200,
                &[],
                H11,
                ResponseFraming::Chunked,
                true,
            ),
            (
                "1.0 with length",
                200,
                &[("content-length", "5")],
                H10_KA,
                ResponseFraming::Length(5),
                true,
            ),
            (
                "1.0 without length",
                200,
                &[],
                H10_KA,
                ResponseFraming::CloseDelimited,
                false,
            ),
            (
                "1.0 no keep-alive",
                200,
                &[("content-length", "0")],
                h10_close,
                ResponseFraming::Length(0),
                false,
            ),
            ("HEAD", 200, &[], head, ResponseFraming::NoBody, true),
            (
                "HEAD with length",
                200,
                &[("content-length", "42")],
                head,
                ResponseFraming::NoBody,
                true,
            ),
            (
                "204",
                204,
                &[("content-length", "5")],
                H11,
                ResponseFraming::NoBody,
                true,
            ),
            (
                "304",
                304,
                &[("content-length", "5")],
                H11,
                ResponseFraming::NoBody,
                true,
            ),
            ("1xx", 103, &[], H11, ResponseFraming::NoBody, true),
            ("1.0 204", 204, &[], H10_KA, ResponseFraming::NoBody, true),
            (
                "app close",
                200,
                &[("connection", "Close")],
                H11,
                ResponseFraming::Chunked,
                false,
            ),
            (
                "app close in a list",
                200,
                &[("connection", "foo, close")],
                H11,
                ResponseFraming::Chunked,
                false,
            ),
            (
                "app keep-alive ignored",
                200,
                &[("connection", "keep-alive")],
                h10_close,
                ResponseFraming::CloseDelimited,
                false,
            ),
            (
                "identical CLs",
                200,
                &[("content-length", "3"), ("content-length", "3, 3")],
                H11,
                ResponseFraming::Length(3),
                true,
            ),
        ];
        for &(label, status, fields, req, framing, keep_alive) in table {
            let (_, encoded) =
                encode(status, fields, req).unwrap_or_else(|e| panic!("{label}: {e:?}"));
            assert_eq!(encoded.encoder.framing(), framing, "{label}");
            assert_eq!(encoded.keep_alive, keep_alive, "{label}");
            assert_eq!(
                encoded.encoder.closes_connection(),
                framing == ResponseFraming::CloseDelimited,
                "{label}"
            );
        }
    }

    #[test]
    fn exact_heads() {
        let (text, _) = encode(
            200,
            &[("content-type", "text/plain"), ("content-length", "5")],
            H11,
        )
        .unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\ndate: <date>\r\nserver: weir\r\n\r\n"
        );
        let (text, _) = encode(404, &[], H11).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\ndate: <date>\r\nserver: weir\r\n\r\n"
        );
        let (text, _) = encode(200, &[], H10_KA).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nconnection: close\r\ndate: <date>\r\nserver: weir\r\n\r\n"
        );
        let (text, _) = encode(200, &[("content-length", "0")], H10_KA).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\ndate: <date>\r\nserver: weir\r\n\r\n"
        );
        // No canonical reason: empty reason-phrase, the SP stays (RFC 9112 §4).
        let (text, _) = encode(599, &[("content-length", "0")], H11).unwrap();
        assert!(text.starts_with("HTTP/1.1 599 \r\n"), "{text}");
    }

    #[test]
    fn head_and_304_keep_app_length_204_and_1xx_drop_it() {
        let head = RequestInfo {
            method_is_head: true,
            ..H11
        };
        let (text, _) = encode(200, &[("content-length", "42")], head).unwrap();
        assert!(text.contains("content-length: 42\r\n"), "{text}");
        assert!(!text.contains("transfer-encoding"), "{text}");
        let (text, _) = encode(304, &[("content-length", "42"), ("etag", "\"x\"")], H11).unwrap();
        assert!(
            text.contains("content-length: 42\r\n") && text.contains("etag: \"x\"\r\n"),
            "{text}"
        );
        for status in [204, 100, 103] {
            let (text, _) = encode(status, &[("content-length", "42")], H11).unwrap();
            assert!(!text.contains("content-length"), "{status}: {text}");
            assert!(!text.contains("transfer-encoding"), "{status}: {text}");
        }
        // HEAD without a length writes no framing field at all.
        let (text, _) = encode(200, &[], head).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ndate: <date>\r\nserver: weir\r\n\r\n"
        );
    }

    #[test]
    fn server_owned_fields_are_not_written() {
        let (text, encoded) = encode(
            200,
            &[
                ("transfer-encoding", "gzip"),
                ("connection", "keep-alive, upgrade"),
                ("keep-alive", "timeout=5"),
                ("x-app", "1"),
            ],
            H11,
        )
        .unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nx-app: 1\r\ntransfer-encoding: chunked\r\ndate: <date>\r\nserver: weir\r\n\r\n"
        );
        assert!(encoded.keep_alive);
        let (text, _) = encode(200, &[("connection", "close")], H11).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\ndate: <date>\r\nserver: weir\r\n\r\n"
        );
    }

    #[test]
    fn app_date_and_server_win() {
        let fields = headers(&[
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("server", "app/1"),
            ("content-length", "0"),
        ]);
        let mut dst = BytesMut::new();
        encode_head(&mut dst, StatusCode::OK, &fields, H11).unwrap();
        assert_eq!(
            &dst[..],
            &b"HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\nserver: app/1\r\n\
               content-length: 0\r\n\r\n"[..]
        );
    }

    #[test]
    fn bad_app_content_length() {
        let head = RequestInfo {
            method_is_head: true,
            ..H11
        };
        for (fields, req) in [
            (&[("content-length", "abc")][..], H11),
            (&[("content-length", "+5")][..], H11),
            (&[("content-length", "")][..], H11),
            (&[("content-length", "18446744073709551616")][..], H11),
            (&[("content-length", "5"), ("content-length", "6")][..], H11),
            (&[("content-length", "5, 6")][..], H11),
            (&[("content-length", "x")][..], head),
        ] {
            assert_eq!(
                encode(200, fields, req).unwrap_err(),
                EncodeError::BadContentLength,
                "{fields:?}"
            );
        }
        // Dropped anyway for 204, so never looked at.
        assert!(encode(204, &[("content-length", "x")], H11).is_ok());
    }

    fn encoder(framing_fields: &[(&'static str, &'static str)], req: RequestInfo) -> BodyEncoder {
        encode(200, framing_fields, req).unwrap().1.encoder
    }

    #[test]
    fn chunked_body_bytes_exact() {
        let mut enc = encoder(&[], H11);
        let mut dst = BytesMut::new();
        enc.encode(b"hello", &mut dst).unwrap();
        enc.encode(b"", &mut dst).unwrap();
        enc.encode(&[b'x'; 26], &mut dst).unwrap();
        enc.finish(&mut dst).unwrap();
        let mut want = b"5\r\nhello\r\n1a\r\n".to_vec();
        want.extend_from_slice(&[b'x'; 26]);
        want.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(&dst[..], &want[..]);
        // finish is idempotent; data after it is too much.
        enc.finish(&mut dst).unwrap();
        assert_eq!(dst.len(), want.len());
        assert_eq!(enc.encode(b"late", &mut dst), Err(EncodeError::TooMuch));
        assert_eq!(dst.len(), want.len());
    }

    #[test]
    fn length_body_too_much_and_too_little() {
        let mut enc = encoder(&[("content-length", "5")], H11);
        let mut dst = BytesMut::new();
        enc.encode(b"hel", &mut dst).unwrap();
        assert_eq!(
            enc.finish(&mut dst),
            Err(EncodeError::TooLittle { missing: 2 })
        );
        assert_eq!(enc.encode(b"lo!!", &mut dst), Err(EncodeError::TooMuch));
        // The part that fits was written.
        assert_eq!(&dst[..], b"hello");
        enc.finish(&mut dst).unwrap();
        assert_eq!(enc.encode(b"x", &mut dst), Err(EncodeError::TooMuch));

        let mut enc = encoder(&[("content-length", "0")], H11);
        enc.encode(b"", &mut dst).unwrap();
        assert_eq!(enc.encode(b"x", &mut dst), Err(EncodeError::TooMuch));
        enc.finish(&mut dst).unwrap();
        assert_eq!(&dst[..], b"hello");
    }

    #[test]
    fn close_delimited_and_no_body() {
        let mut dst = BytesMut::new();
        let mut enc = encoder(&[], H10_KA);
        enc.encode(b"raw ", &mut dst).unwrap();
        enc.encode(b"bytes", &mut dst).unwrap();
        enc.finish(&mut dst).unwrap();
        assert_eq!(&dst[..], b"raw bytes");
        assert!(enc.closes_connection());

        let head = RequestInfo {
            method_is_head: true,
            ..H11
        };
        let mut enc = encoder(&[("content-length", "3")], head);
        let mut dst = BytesMut::new();
        enc.encode(b"discarded", &mut dst).unwrap();
        enc.finish(&mut dst).unwrap();
        enc.encode(b"still discarded", &mut dst).unwrap();
        assert!(dst.is_empty());
        assert!(!enc.closes_connection());
    }

    #[test]
    fn simple_response() {
        let mut dst = BytesMut::new();
        encode_simple(
            &mut dst,
            StatusCode::BAD_REQUEST,
            "duplicate Host header",
            false,
        );
        assert_eq!(
            mask_date(&dst),
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 22\r\n\
             connection: close\r\ndate: <date>\r\nserver: weir\r\n\r\nduplicate Host header\n"
        );
        let mut dst = BytesMut::new();
        encode_simple(&mut dst, StatusCode::INTERNAL_SERVER_ERROR, "", true);
        assert_eq!(
            mask_date(&dst),
            "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: 1\r\ndate: <date>\r\nserver: weir\r\n\r\n\n"
        );
    }

    #[test]
    fn switching_protocols_head_has_no_body_framing() {
        // (app headers, expected head with the date masked)
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")],
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
                 sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\ndate: <date>\r\nserver: weir\r\n\r\n",
            ),
            (
                // The app's framing and connection fields never reach the wire.
                &[
                    ("content-length", "5"),
                    ("transfer-encoding", "chunked"),
                    ("connection", "close"),
                    ("upgrade", "h2c"),
                    ("sec-websocket-protocol", "chat"),
                    ("server", "x"),
                ],
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
                 sec-websocket-protocol: chat\r\nserver: x\r\ndate: <date>\r\n\r\n",
            ),
        ];
        for (headers, want) in cases {
            let mut map = HeaderMap::new();
            for (k, v) in *headers {
                map.append(
                    http::header::HeaderName::from_static(k),
                    http::HeaderValue::from_static(v),
                );
            }
            let mut dst = BytesMut::new();
            encode_switching(&mut dst, &map);
            assert_eq!(mask_date(&dst), *want);
        }
    }

    #[test]
    fn continue_bytes() {
        assert_eq!(CONTINUE, b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    #[test]
    fn number_formatting() {
        for n in [0u64, 1, 9, 10, 15, 16, 255, 4096, 1 << 40, u64::MAX] {
            let mut dst = BytesMut::new();
            write_decimal(&mut dst, n);
            assert_eq!(&dst[..], n.to_string().as_bytes());
            let mut dst = BytesMut::new();
            let mut line = [0u8; 18];
            dst.extend_from_slice(chunk_size_line(n, &mut line));
            assert_eq!(&dst[..], format!("{n:x}\r\n").as_bytes());
        }
    }

    #[test]
    fn encode_error_display() {
        assert_eq!(
            EncodeError::TooLittle { missing: 3 }.to_string(),
            "response body shorter than its Content-Length by 3 bytes"
        );
        assert!(!EncodeError::TooMuch.to_string().is_empty());
        assert!(!EncodeError::BadContentLength.to_string().is_empty());
    }

    #[test]
    fn encode_bytes_matches_encode() {
        for framing in [
            ResponseFraming::Length(7),
            ResponseFraming::Chunked,
            ResponseFraming::CloseDelimited,
            ResponseFraming::NoBody,
        ] {
            let mut a = BodyEncoder {
                framing,
                state: EncoderState::Open { remaining: 7 },
            };
            let mut b = BodyEncoder {
                framing,
                state: EncoderState::Open { remaining: 7 },
            };
            let (mut da, mut db) = (BytesMut::new(), BytesMut::new());
            for piece in ["abc", "", "defgh"] {
                let ra = a.encode(piece.as_bytes(), &mut da);
                let rb = b.encode_bytes(Bytes::from(piece), &mut db);
                assert_eq!(ra, rb, "{framing:?}");
            }
            assert_eq!(da, db, "{framing:?}");
        }
    }
}
