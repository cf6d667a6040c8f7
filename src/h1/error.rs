//! Why a request could not be framed, and the status each cause is answered with.

use std::fmt;

use http::StatusCode;

/// Why a request could not be framed. Small, `Copy`, nothing boxed: it is returned on the
/// per-chunk path of the body decoder.
///
/// Every variant maps to its response status by construction ([`ParseError::status`]); after any
/// of them the connection cannot be trusted to be in sync and must be closed once the error
/// response is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The head did not end within `max_head_bytes` (431, RFC 6585 §5).
    HeadTooLarge,
    /// More than `max_headers` field lines (431, RFC 6585 §5).
    TooManyHeaders,
    /// The request line is malformed: not `method SP target SP version CRLF` (RFC 9112 §3).
    BadRequestLine,
    /// A field line is malformed: bad name or value bytes, whitespace before the colon
    /// (RFC 9112 §5.1), obs-fold (§5.2), a bare CR (§2.2) or NUL/CTL in a value (RFC 9110 §5.5).
    BadHeader,
    /// A well-formed HTTP version other than 1.0 or 1.1 (505, RFC 9110 §15.6.6).
    UnsupportedVersion,
    /// An HTTP/1.1 request without a Host field (RFC 9112 §3.2).
    MissingHost,
    /// More than one Host field line (RFC 9112 §3.2).
    DuplicateHost,
    /// A Host field value that is not `uri-host [ ":" port ]` (RFC 9112 §3.2).
    BadHost,
    /// A Content-Length value that is not 1*DIGIT or does not fit in a `u64` (RFC 9110 §8.6),
    /// including a list such as `5, 5` (RFC 9112 §6.3 item 5 lets a recipient reject it).
    BadContentLength,
    /// More than one Content-Length field line, whether or not the values agree (RFC 9112 §6.3
    /// item 5 lets a recipient reject them; we always do).
    DuplicateContentLength,
    /// Both Transfer-Encoding and Content-Length: a request smuggling attempt (RFC 9112 §6.3
    /// item 3).
    ContentLengthWithTransferEncoding,
    /// Transfer-Encoding whose final coding is not `chunked`, or with `chunked` more than once
    /// (RFC 9112 §6.3 item 4, §7).
    TransferEncodingNotChunkedLast,
    /// A transfer coding other than `chunked` before the final `chunked` (501, RFC 9112 §6.1).
    UnknownTransferCoding,
    /// Transfer-Encoding in an HTTP/1.0 request: its framing is faulty (RFC 9112 §6.1).
    TransferEncodingInHttp10,
    /// The decoded body exceeds `max_body_bytes` (413, RFC 9110 §15.5.14).
    BodyTooLarge,
    /// A chunk-size that is not 1*HEXDIG followed by extensions or the line end (RFC 9112 §7.1).
    BadChunkSize,
    /// A chunk-size too long to fit in a `u64` (RFC 9112 §7.1: recipients must anticipate and
    /// guard against overflow).
    ChunkSizeOverflow,
    /// Chunk extensions longer than `max_chunk_ext_bytes` on one line (RFC 9112 §7.1.1).
    ChunkExtTooLarge,
    /// Chunk extensions that do not match the `chunk-ext` grammar (RFC 9112 §7.1.1).
    BadChunkExt,
    /// Chunk data not followed by exactly CRLF (RFC 9112 §7.1).
    BadChunkFraming,
    /// A trailer section larger than `max_trailer_bytes` (RFC 9112 §7.1.2).
    TrailersTooLarge,
    /// A malformed trailer field line (RFC 9112 §7.1.2, §5).
    BadTrailer,
    /// A request-target that is in no form allowed for its method (RFC 9112 §3.2).
    BadTarget,
    /// A method that is not a token (RFC 9110 §9.1).
    BadMethod,
    /// A bare LF (not preceded by CR) ending a line of the request line, the header section, or
    /// a chunked body's framing (chunk-size line, after chunk data, trailer section), while
    /// `allow_bare_lf` is off: RFC 9112 §2.2 only *allows* a recipient to accept it, and a
    /// front end that disagrees about line ends is a request-smuggling desync.
    BareLf,
}

impl ParseError {
    /// The status to answer with: 400, 413, 431, 501 or 505, decided by the variant alone.
    pub fn status(&self) -> StatusCode {
        match self {
            ParseError::HeadTooLarge | ParseError::TooManyHeaders => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ParseError::UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            ParseError::UnknownTransferCoding => StatusCode::NOT_IMPLEMENTED,
            ParseError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            // Trailers are discarded, so an oversized trailer section is a malformed body rather
            // than a head the server declines to read: 400, not 431.
            ParseError::MissingHost
            | ParseError::BadRequestLine
            | ParseError::BadHeader
            | ParseError::DuplicateHost
            | ParseError::BadHost
            | ParseError::BadContentLength
            | ParseError::DuplicateContentLength
            | ParseError::ContentLengthWithTransferEncoding
            | ParseError::TransferEncodingNotChunkedLast
            | ParseError::TransferEncodingInHttp10
            | ParseError::BadChunkSize
            | ParseError::ChunkSizeOverflow
            | ParseError::ChunkExtTooLarge
            | ParseError::BadChunkExt
            | ParseError::BadChunkFraming
            | ParseError::TrailersTooLarge
            | ParseError::BadTrailer
            | ParseError::BadTarget
            | ParseError::BadMethod
            | ParseError::BareLf => StatusCode::BAD_REQUEST,
        }
    }

    /// Short human text for logs and error bodies, e.g. `"duplicate Host header"`.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::HeadTooLarge => "request head too large",
            ParseError::TooManyHeaders => "too many header fields",
            ParseError::BadRequestLine => "malformed request line",
            ParseError::BadHeader => "malformed header field",
            ParseError::UnsupportedVersion => "HTTP version not supported",
            ParseError::MissingHost => "missing Host header",
            ParseError::DuplicateHost => "duplicate Host header",
            ParseError::BadHost => "invalid Host header",
            ParseError::BadContentLength => "invalid Content-Length",
            ParseError::DuplicateContentLength => "duplicate Content-Length header",
            ParseError::ContentLengthWithTransferEncoding => {
                "both Content-Length and Transfer-Encoding"
            }
            ParseError::TransferEncodingNotChunkedLast => {
                "Transfer-Encoding must end with a single chunked"
            }
            ParseError::UnknownTransferCoding => "unsupported transfer coding",
            ParseError::TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            ParseError::BodyTooLarge => "request body too large",
            ParseError::BadChunkSize => "invalid chunk size",
            ParseError::ChunkSizeOverflow => "chunk size too large",
            ParseError::ChunkExtTooLarge => "chunk extensions too large",
            ParseError::BadChunkExt => "invalid chunk extension",
            ParseError::BadChunkFraming => "chunk data not followed by CRLF",
            ParseError::TrailersTooLarge => "trailer section too large",
            ParseError::BadTrailer => "malformed trailer field",
            ParseError::BadTarget => "invalid request target",
            ParseError::BadMethod => "invalid method",
            ParseError::BareLf => "bare LF line ending (CRLF required)",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_by_construction() {
        use ParseError::*;
        let table: &[(ParseError, u16)] = &[
            (HeadTooLarge, 431),
            (TooManyHeaders, 431),
            (BadRequestLine, 400),
            (BadHeader, 400),
            (UnsupportedVersion, 505),
            (MissingHost, 400),
            (DuplicateHost, 400),
            (BadHost, 400),
            (BadContentLength, 400),
            (DuplicateContentLength, 400),
            (ContentLengthWithTransferEncoding, 400),
            (TransferEncodingNotChunkedLast, 400),
            (UnknownTransferCoding, 501),
            (TransferEncodingInHttp10, 400),
            (BodyTooLarge, 413),
            (BadChunkSize, 400),
            (ChunkSizeOverflow, 400),
            (ChunkExtTooLarge, 400),
            (BadChunkExt, 400),
            (BadChunkFraming, 400),
            (TrailersTooLarge, 400),
            (BadTrailer, 400),
            (BadTarget, 400),
            (BadMethod, 400),
            (BareLf, 400),
        ];
        for &(err, code) in table {
            assert_eq!(err.status().as_u16(), code, "{err:?}");
            assert!(!err.reason().is_empty());
            assert_eq!(err.to_string(), err.reason());
        }
        assert_eq!(DuplicateHost.reason(), "duplicate Host header");
    }

    #[test]
    fn is_small_and_copy() {
        fn assert_copy<T: Copy + Send + Sync + 'static>() {}
        assert_copy::<ParseError>();
        assert_eq!(std::mem::size_of::<ParseError>(), 1);
    }
}
