//! Limits on what a client may make the server buffer or count while framing a request.
//!
//! Every limit bounds memory or work that a peer controls. They are enforced by the sans-I/O
//! core ([`crate::h1`]): the head limits by [`parse_head`](crate::h1::parse_head), the body
//! limits by [`BodyDecoder`](crate::h1::BodyDecoder).

/// Parsing limits, shared by every connection of a server.
///
/// The defaults are deliberately generous for real clients and small enough that a slow or
/// hostile one cannot make a connection hold more than a few tens of KiB of framing state.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Most bytes a request head may take: leading empty lines, request line, header lines and
    /// the CRLFs between and after them.
    ///
    /// Default `16 * 1024`. Browsers stay well under 8 KiB even with large cookies; 16 KiB leaves
    /// headroom for API clients with long tokens while capping the buffer a client can fill
    /// before we see a complete head (RFC 9112 §3 lets a server answer 431 beyond its own limit).
    pub max_head_bytes: usize,
    /// Most header field lines a request head may carry.
    ///
    /// Default `100`, the same bound hyper uses: far above what real clients send, and it keeps
    /// the per-request header table small.
    pub max_headers: usize,
    /// Most decoded body bytes a request may carry, whatever its framing.
    ///
    /// Default `1 << 30` (1 GiB). Bodies are streamed, so this is not a memory bound but a bound
    /// on how long one request can occupy a connection and an app; apps that want less enforce
    /// it themselves or lower this.
    pub max_body_bytes: u64,
    /// Most bytes of chunk extensions (everything between the chunk size and the line end) on one
    /// chunk-size line.
    ///
    /// Default `1024`. No widely used client sends chunk extensions at all; the bound stops a
    /// client from making the decoder scan an endless size line (RFC 9112 §7.1.1 lets a
    /// recipient limit them).
    pub max_chunk_ext_bytes: usize,
    /// Most bytes the trailer section of a chunked body may take, all lines together.
    ///
    /// Default `16 * 1024`, matching `max_head_bytes`: trailers are header fields sent late
    /// (RFC 9112 §7.1.2) and deserve the same bound.
    pub max_trailer_bytes: usize,
    /// Whether a bare LF (an LF not preceded by CR) is accepted as a line terminator in the
    /// request line, the header section and the framing lines of a chunked body (chunk-size
    /// lines, the CRLF after chunk data, trailer lines and the final empty line).
    ///
    /// Default `false`: such a request is answered 400 ([`ParseError::BareLf`]). RFC 9112 §2.2
    /// lets a recipient accept a bare LF, but only a recipient: when a front end (proxy, load
    /// balancer, WAF) and this server disagree on where a line, and so a head or a chunk, ends,
    /// one request can be read as two, the classic request-smuggling desync. Rejecting is what
    /// llhttp's strict mode does, and no conforming client sends bare LF (§2.2: the line
    /// terminator is CRLF). Set it to `true` only behind nothing, or behind a front end known
    /// to treat bare LF the same way. A bare CR is rejected either way (§2.2 does not let a
    /// recipient take it as a line end).
    ///
    /// [`ParseError::BareLf`]: crate::h1::ParseError::BareLf
    pub allow_bare_lf: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 1 << 30,
            max_chunk_ext_bytes: 1024,
            max_trailer_bytes: 16 * 1024,
            allow_bare_lf: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let l = Limits::default();
        assert_eq!(l.max_head_bytes, 16 * 1024);
        assert_eq!(l.max_headers, 100);
        assert_eq!(l.max_body_bytes, 1 << 30);
        assert_eq!(l.max_chunk_ext_bytes, 1024);
        assert_eq!(l.max_trailer_bytes, 16 * 1024);
        assert!(!l.allow_bare_lf);
    }
}
