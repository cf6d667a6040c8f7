//! Request body decoding: Content-Length and chunked framing (RFC 9112 §6, §7.1).
//!
//! The decoder is a push parser over the caller's buffer, like httparse: it takes what it can
//! from the front of a `BytesMut`, hands body data out as zero-copy `Bytes`, and leaves every
//! byte after the body (the next pipelined request) where it was. Framing bytes are consumed as
//! they are read, so the decoder never asks the caller to buffer more than one byte of framing
//! ahead, and every line it reads has a bounded length.

use bytes::{Buf, Bytes, BytesMut};

use super::error::ParseError;
use super::parse::BodyFraming;
use crate::limits::Limits;

/// One step of body decoding.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// The next piece of the body; never empty.
    Data(Bytes),
    /// The body is complete. Returned again on every later call.
    End,
    /// More bytes are needed. Everything that was in the buffer has been consumed.
    Incomplete,
}

/// Request body decoder for Content-Length or chunked framing (RFC 9112 §6, §7.1).
///
/// Yields at most one [`Decoded::Data`] per call. Once a call has returned an error, every later
/// call returns the same error: the connection is out of sync and must be closed.
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
    /// Decoded bytes handed out so far.
    body_bytes: u64,
    /// Fixed at construction, so it stays true after the body ended or failed.
    chunked: bool,
    max_body_bytes: u64,
    max_chunk_ext_bytes: usize,
    max_trailer_bytes: usize,
    /// Whether a bare LF ends a framing line (RFC 9112 §2.2); see [`Limits::allow_bare_lf`].
    allow_bare_lf: bool,
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// Content-Length framing with this many bytes still to come (RFC 9112 §6.3 item 5).
    Length { remaining: u64 },
    /// Chunked framing (RFC 9112 §7.1).
    Chunked(Chunked),
    /// The body is complete.
    End,
    /// A framing error; sticky.
    Failed(ParseError),
}

/// Where the chunked decoder is in `chunked-body` (RFC 9112 §7.1):
///
/// ```text
/// chunked-body = *chunk last-chunk trailer-section CRLF
/// chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
/// last-chunk   = 1*("0") [ chunk-ext ] CRLF
/// ```
#[derive(Clone, Copy, Debug)]
enum Chunked {
    /// In the hex digits of a chunk-size; `digits` counts them, leading zeros included.
    Size { size: u64, digits: u8 },
    /// After the chunk-size, in its extensions; `len` counts extension bytes so far.
    Ext { size: u64, at: Ext, len: usize },
    /// Saw the CR ending a chunk-size line; an LF must follow.
    SizeLf { size: u64 },
    /// In chunk data with this many bytes still to come.
    Data { remaining: u64 },
    /// After chunk data; a CRLF (or, if allowed, a bare LF) must follow.
    DataCr,
    /// Saw the CR after chunk data; an LF must follow.
    DataLf,
    /// In the trailer section; `len` counts its bytes so far.
    Trailer { at: Trailer, len: usize },
}

/// Position in `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`
/// (RFC 9112 §7.1.1), with `chunk-ext-val = token / quoted-string`.
#[derive(Clone, Copy, Debug)]
enum Ext {
    /// Whitespace right after the chunk-size: only `;` may follow (`5 ` alone is a bad size).
    SizeWs,
    /// Whitespace after a complete extension: only `;` may follow.
    Ws,
    /// After `;`: BWS, then a name.
    NameStart,
    /// In a name; the extension is complete here.
    Name,
    /// Whitespace after a name: `=` or `;` must follow.
    AfterName,
    /// After `=`: BWS, then a token or a quoted-string.
    ValueStart,
    /// In a token value; the extension is complete here.
    Token,
    /// Inside a quoted-string.
    Quoted,
    /// After a backslash inside a quoted-string.
    QuotedPair,
    /// After the closing quote; the extension is complete here.
    AfterQuote,
}

/// Position in `trailer-section = *( field-line CRLF )` followed by the final CRLF
/// (RFC 9112 §7.1.2, field-line syntax from §5).
#[derive(Clone, Copy, Debug)]
enum Trailer {
    /// At the start of a line: a field name, or the empty line ending the body.
    LineStart,
    /// In a field name.
    Name,
    /// In a field value (OWS included).
    Value,
    /// Saw the CR ending a field line.
    Lf,
    /// Saw the CR of the final empty line.
    EndLf,
}

/// Digits a chunk-size may have, leading zeros included. 16 is all a `u64` holds; the rest is
/// room for zero padding. Together with `max_chunk_ext_bytes` it bounds the whole size line.
const MAX_SIZE_DIGITS: u8 = 32;

impl BodyDecoder {
    /// A decoder for a body framed as `framing`, enforcing the body limits of `limits` and its
    /// `allow_bare_lf` rule for chunked framing lines (RFC 9112 §2.2, §7.1).
    pub fn new(framing: BodyFraming, limits: &Limits) -> BodyDecoder {
        let state = match framing {
            BodyFraming::Empty | BodyFraming::Length(0) => State::End,
            // Known to be too large before a byte arrives: fail on the first call, so the
            // runtime can answer 413 without reading (or waiting for) the body.
            BodyFraming::Length(n) if n > limits.max_body_bytes => {
                State::Failed(ParseError::BodyTooLarge)
            }
            BodyFraming::Length(n) => State::Length { remaining: n },
            BodyFraming::Chunked => State::Chunked(Chunked::Size { size: 0, digits: 0 }),
        };
        BodyDecoder {
            state,
            body_bytes: 0,
            chunked: framing == BodyFraming::Chunked,
            max_body_bytes: limits.max_body_bytes,
            max_chunk_ext_bytes: limits.max_chunk_ext_bytes,
            max_trailer_bytes: limits.max_trailer_bytes,
            allow_bare_lf: limits.allow_bare_lf,
        }
    }

    /// Decode the next piece from `buf`, consuming the bytes it uses (framing and data).
    ///
    /// Data is never empty, is split off `buf` without copying, and never goes past the body's
    /// end: the bytes after it stay in `buf`. `Incomplete` means `buf` has been used up and more
    /// bytes are needed. `End` means the body is complete, and repeats forever.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, ParseError> {
        let res = match self.state {
            State::Length { remaining } => Ok(self.take_data(remaining, buf)),
            State::Chunked(_) => self.decode_chunked(buf),
            State::End => Ok(Decoded::End),
            State::Failed(err) => Err(err),
        };
        if let Err(err) = res {
            self.state = State::Failed(err);
        }
        res
    }

    /// Whether the whole body has been decoded.
    pub fn is_end(&self) -> bool {
        matches!(self.state, State::End)
    }

    /// Decoded body bytes handed out so far.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Whether the body is chunked (for logging).
    pub fn is_chunked(&self) -> bool {
        self.chunked
    }

    /// Hand out up to `remaining` bytes of body data from the front of `buf`.
    fn take_data(&mut self, remaining: u64, buf: &mut BytesMut) -> Decoded {
        if buf.is_empty() {
            return Decoded::Incomplete;
        }
        // Never past the body's end: what follows belongs to the next request.
        let n = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
        let data = buf.split_to(n).freeze();
        let remaining = remaining - n as u64;
        self.body_bytes += n as u64;
        self.state = match self.state {
            State::Length { .. } if remaining == 0 => State::End,
            State::Length { .. } => State::Length { remaining },
            _ if remaining == 0 => State::Chunked(Chunked::DataCr),
            _ => State::Chunked(Chunked::Data { remaining }),
        };
        Decoded::Data(data)
    }

    fn decode_chunked(&mut self, buf: &mut BytesMut) -> Result<Decoded, ParseError> {
        // Walk framing bytes one at a time until chunk data, the end, or the end of the buffer;
        // then drop them from `buf` in one go.
        let mut used = 0;
        let res = loop {
            match self.state {
                State::Chunked(Chunked::Data { remaining }) => {
                    buf.advance(used);
                    break self.take_data(remaining, buf);
                }
                State::Chunked(chunked) => {
                    let Some(&b) = buf.get(used) else {
                        buf.advance(used);
                        break Decoded::Incomplete;
                    };
                    used += 1;
                    self.state = self.step(chunked, b)?;
                }
                State::End => {
                    buf.advance(used);
                    break Decoded::End;
                }
                // `decode` only calls here in a chunked state, and `step` never yields these.
                State::Length { .. } | State::Failed(_) => unreachable!("not chunked"),
            }
        };
        Ok(res)
    }

    /// Advance the chunked state machine by one framing byte.
    fn step(&self, chunked: Chunked, b: u8) -> Result<State, ParseError> {
        match chunked {
            Chunked::Size { size, digits } => self.read_size(size, digits, b),
            Chunked::Ext { size, at, len } => self.read_ext(size, at, len, b),
            Chunked::SizeLf { size } => self.read_size_lf(size, b),
            Chunked::DataCr => self.read_data_cr(b),
            Chunked::DataLf => read_data_lf(b),
            Chunked::Trailer { at, len } => self.read_trailer(at, len, b),
            Chunked::Data { .. } => unreachable!("data is taken, not stepped through"),
        }
    }

    /// chunk-size = 1*HEXDIG (RFC 9112 §7.1).
    fn read_size(&self, size: u64, digits: u8, b: u8) -> Result<State, ParseError> {
        if let Some(d) = hex_value(b) {
            // §7.1: recipients MUST anticipate large hex numerals and prevent integer overflow.
            // A 17th significant digit cannot fit; endless leading zeros are bounded too.
            if size > u64::MAX >> 4 || digits >= MAX_SIZE_DIGITS {
                return Err(ParseError::ChunkSizeOverflow);
            }
            let size = size << 4 | u64::from(d);
            return Ok(State::Chunked(Chunked::Size {
                size,
                digits: digits + 1,
            }));
        }
        // At least one digit: no sign, no `0x`, no leading whitespace, not empty.
        if digits == 0 {
            return Err(ParseError::BadChunkSize);
        }
        match b {
            b'\r' => Ok(State::Chunked(Chunked::SizeLf { size })),
            b'\n' => {
                self.bare_lf()?;
                self.end_size_line(size)
            }
            _ => self.read_ext(size, Ext::SizeWs, 0, b),
        }
    }

    /// One byte of chunk extensions (RFC 9112 §7.1.1). They are validated and discarded: no
    /// extension means anything to us, but garbage here means the peer's framing is not ours.
    fn read_ext(&self, size: u64, at: Ext, len: usize, b: u8) -> Result<State, ParseError> {
        if b == b'\r' || b == b'\n' {
            // The line may only end where an extension is complete.
            return match at {
                Ext::Name | Ext::Token | Ext::AfterQuote if b == b'\r' => {
                    Ok(State::Chunked(Chunked::SizeLf { size }))
                }
                Ext::Name | Ext::Token | Ext::AfterQuote => {
                    self.bare_lf()?;
                    self.end_size_line(size)
                }
                // `5 ` then CRLF: BWS is only allowed before `;`.
                Ext::SizeWs => Err(ParseError::BadChunkSize),
                _ => Err(ParseError::BadChunkExt),
            };
        }
        let ws = b == b' ' || b == b'\t';
        let next = match at {
            Ext::SizeWs | Ext::Ws if ws => at,
            Ext::SizeWs | Ext::Ws | Ext::Name | Ext::AfterName | Ext::Token | Ext::AfterQuote
                if b == b';' =>
            {
                Ext::NameStart
            }
            // `5 5`, `5x`: not a chunk-size followed by extensions.
            Ext::SizeWs => return Err(ParseError::BadChunkSize),
            Ext::NameStart | Ext::AfterName | Ext::ValueStart if ws => at,
            Ext::NameStart | Ext::Name if is_tchar(b) => Ext::Name,
            Ext::Name if ws => Ext::AfterName,
            Ext::Name | Ext::AfterName if b == b'=' => Ext::ValueStart,
            Ext::ValueStart if b == b'"' => Ext::Quoted,
            Ext::ValueStart | Ext::Token if is_tchar(b) => Ext::Token,
            Ext::Token | Ext::AfterQuote if ws => Ext::Ws,
            // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4).
            Ext::Quoted if b == b'"' => Ext::AfterQuote,
            Ext::Quoted if b == b'\\' => Ext::QuotedPair,
            Ext::Quoted if is_qdtext(b) => Ext::Quoted,
            Ext::QuotedPair if ws || is_vchar_or_obs(b) => Ext::Quoted,
            _ => return Err(ParseError::BadChunkExt),
        };
        // Counted as bytes are read, so an endless extension fails without waiting for its end.
        let len = len + 1;
        if len > self.max_chunk_ext_bytes {
            return Err(ParseError::ChunkExtTooLarge);
        }
        Ok(State::Chunked(Chunked::Ext {
            size,
            at: next,
            len,
        }))
    }

    /// After the CR of a chunk-size line only LF may come: a bare CR is not a line end (§2.2).
    fn read_size_lf(&self, size: u64, b: u8) -> Result<State, ParseError> {
        if b == b'\n' {
            self.end_size_line(size)
        } else {
            Err(ParseError::BadChunkSize)
        }
    }

    /// After chunk data exactly CRLF (or, if allowed, a bare LF) must follow (RFC 9112 §7.1).
    fn read_data_cr(&self, b: u8) -> Result<State, ParseError> {
        match b {
            b'\r' => Ok(State::Chunked(Chunked::DataLf)),
            b'\n' => {
                self.bare_lf()?;
                Ok(next_chunk())
            }
            _ => Err(ParseError::BadChunkFraming),
        }
    }

    /// A bare LF just ended a framing line. RFC 9112 §2.2 lets a recipient accept it, but a
    /// front end that does not would find the chunk boundaries (and so the next request) in
    /// another place than we do: a desync. So it is an error unless `allow_bare_lf`, the same
    /// rule as for the head.
    fn bare_lf(&self) -> Result<(), ParseError> {
        if self.allow_bare_lf {
            Ok(())
        } else {
            Err(ParseError::BareLf)
        }
    }

    /// A complete chunk-size line: data follows, or for `last-chunk` the trailer section.
    fn end_size_line(&self, size: u64) -> Result<State, ParseError> {
        if size == 0 {
            return Ok(State::Chunked(Chunked::Trailer {
                at: Trailer::LineStart,
                len: 0,
            }));
        }
        // Rejected as soon as the size is known, before the chunk's data is read.
        if size > self.max_body_bytes - self.body_bytes {
            return Err(ParseError::BodyTooLarge);
        }
        Ok(State::Chunked(Chunked::Data { remaining: size }))
    }

    /// One byte of the trailer section (RFC 9112 §7.1.2). Fields are checked against the
    /// field-line grammar (§5: no whitespace before the colon, no obs-fold, no CTLs) and
    /// discarded; nothing here may be merged into the head's fields.
    fn read_trailer(&self, at: Trailer, len: usize, b: u8) -> Result<State, ParseError> {
        let next = match at {
            // The final empty line is not counted toward the limit.
            Trailer::LineStart if b == b'\r' => {
                return Ok(State::Chunked(Chunked::Trailer {
                    at: Trailer::EndLf,
                    len,
                }))
            }
            Trailer::LineStart if b == b'\n' => {
                self.bare_lf()?;
                return Ok(State::End);
            }
            Trailer::EndLf if b == b'\n' => return Ok(State::End),
            Trailer::LineStart | Trailer::Name if is_tchar(b) => Trailer::Name,
            Trailer::Name if b == b':' => Trailer::Value,
            Trailer::Value if b == b'\r' => Trailer::Lf,
            Trailer::Lf if b == b'\n' => Trailer::LineStart,
            Trailer::Value if b == b'\n' => {
                self.bare_lf()?;
                Trailer::LineStart
            }
            Trailer::Value if b == b' ' || b == b'\t' || is_vchar_or_obs(b) => Trailer::Value,
            _ => return Err(ParseError::BadTrailer),
        };
        // Field lines count with their line ends; the final empty line does not.
        let len = len + 1;
        if len > self.max_trailer_bytes {
            return Err(ParseError::TrailersTooLarge);
        }
        Ok(State::Chunked(Chunked::Trailer { at: next, len }))
    }
}

fn read_data_lf(b: u8) -> Result<State, ParseError> {
    match b {
        b'\n' => Ok(next_chunk()),
        _ => Err(ParseError::BadChunkFraming),
    }
}

fn next_chunk() -> State {
    State::Chunked(Chunked::Size { size: 0, digits: 0 })
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// tchar (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// VCHAR / obs-text (RFC 5234 B.1, RFC 9110 §5.5).
fn is_vchar_or_obs(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (RFC 9110 §5.6.4).
fn is_qdtext(b: u8) -> bool {
    b == b'\t' || b == b' ' || (is_vchar_or_obs(b) && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NEXT_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

    /// Outcome of feeding a whole input: the body and the bytes left in the buffer.
    type Outcome = Result<(Vec<u8>, Vec<u8>), ParseError>;

    /// Feed `pieces` one at a time, calling `decode` until it needs more. Checks the invariants
    /// that hold for every input: Data is never empty, Incomplete only with an empty buffer, End
    /// repeats, errors are sticky.
    fn feed(framing: BodyFraming, limits: &Limits, pieces: &[&[u8]]) -> Outcome {
        let mut dec = BodyDecoder::new(framing, limits);
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut pieces = pieces.iter();
        loop {
            match dec.decode(&mut buf) {
                Ok(Decoded::Data(data)) => {
                    assert!(!data.is_empty(), "empty Data");
                    body.extend_from_slice(&data);
                    assert_eq!(dec.body_bytes(), body.len() as u64);
                }
                Ok(Decoded::Incomplete) => {
                    assert!(buf.is_empty(), "Incomplete with {} bytes left", buf.len());
                    assert!(!dec.is_end());
                    match pieces.next() {
                        Some(piece) => buf.extend_from_slice(piece),
                        None => panic!("input ended before the body did"),
                    }
                }
                Ok(Decoded::End) => {
                    assert!(dec.is_end());
                    assert_eq!(dec.decode(&mut buf), Ok(Decoded::End), "End repeats");
                    for piece in pieces {
                        buf.extend_from_slice(piece);
                    }
                    return Ok((body, buf.to_vec()));
                }
                Err(err) => {
                    assert_eq!(dec.decode(&mut buf), Err(err), "errors are sticky");
                    return Err(err);
                }
            }
        }
    }

    /// Decode `input` fed whole, and again fed byte by byte; both must agree.
    fn decode_with(framing: BodyFraming, limits: &Limits, input: &[u8]) -> Outcome {
        let whole = feed(framing, limits, &[input]);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let split = feed(framing, limits, &bytes);
        assert_eq!(
            whole,
            split,
            "whole vs byte-by-byte: {:?}",
            String::from_utf8_lossy(input)
        );
        whole
    }

    fn chunked(input: &[u8]) -> Outcome {
        decode_with(BodyFraming::Chunked, &Limits::default(), input)
    }

    #[test]
    fn chunked_valid() {
        // (label, wire, body); every case is followed by NEXT_REQUEST, which must stay in buf.
        let table: &[(&str, &[u8], &[u8])] = &[
            ("one chunk", b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (
                "two chunks",
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                b"hello world",
            ),
            ("no chunks", b"0\r\n\r\n", b""),
            (
                "uppercase hex",
                b"A\r\n0123456789\r\n0\r\n\r\n",
                b"0123456789",
            ),
            (
                "lowercase hex",
                b"a\r\n0123456789\r\n0\r\n\r\n",
                b"0123456789",
            ),
            ("leading zeros", b"0005\r\nhello\r\n000\r\n\r\n", b"hello"),
            ("extension name", b"5;a\r\nhello\r\n0\r\n\r\n", b"hello"),
            ("extension token", b"5;a=b\r\nhello\r\n0\r\n\r\n", b"hello"),
            ("BWS before ;", b"5 ;a=b\r\nhello\r\n0\r\n\r\n", b"hello"),
            (
                "BWS everywhere",
                b"5 \t; a = b ;c\t=\td\r\nhello\r\n0\r\n\r\n",
                b"hello",
            ),
            (
                "quoted value",
                b"5;a=\"x y;z\"\r\nhello\r\n0\r\n\r\n",
                b"hello",
            ),
            (
                "quoted-pair",
                b"5;a=\"\\\"\\\\\"\r\nhello\r\n0\r\n\r\n",
                b"hello",
            ),
            (
                "several extensions",
                b"5;a;b=c;d=\"e\"\r\nhello\r\n0;last\r\n\r\n",
                b"hello",
            ),
            (
                "ext after quote then ws",
                b"5;a=\"q\" ;b\r\nhello\r\n0\r\n\r\n",
                b"hello",
            ),
            (
                "trailer",
                b"5\r\nhello\r\n0\r\nX-Sum: abc\r\n\r\n",
                b"hello",
            ),
            (
                "trailer OWS and obs-text",
                b"0\r\nA:\t \x80 x \r\n\r\n",
                b"",
            ),
            (
                "data with CRLFs inside",
                b"4\r\n\r\n\r\n\r\n0\r\n\r\n",
                b"\r\n\r\n",
            ),
        ];
        for &(label, wire, body) in table {
            let mut input = wire.to_vec();
            input.extend_from_slice(NEXT_REQUEST);
            let (got, rest) = chunked(&input).unwrap_or_else(|e| panic!("{label}: {e:?}"));
            assert_eq!(got, body, "{label}");
            assert_eq!(rest, NEXT_REQUEST, "{label}");
        }
    }

    #[test]
    fn chunked_errors() {
        use ParseError::*;
        let table: &[(&str, &[u8], ParseError)] = &[
            ("+5", b"+5\r\nhello\r\n0\r\n\r\n", BadChunkSize),
            ("-5", b"-5\r\nhello\r\n0\r\n\r\n", BadChunkSize),
            ("0x5", b"0x5\r\nhello\r\n0\r\n\r\n", BadChunkSize),
            ("leading space", b" 5\r\nhello\r\n0\r\n\r\n", BadChunkSize),
            ("trailing space", b"5 \r\nhello\r\n0\r\n\r\n", BadChunkSize),
            ("trailing tab", b"5\t\r\nhello\r\n0\r\n\r\n", BadChunkSize),
            ("space inside", b"5 5\r\nhello\r\n0\r\n\r\n", BadChunkSize),
            ("empty size", b"\r\nhello\r\n0\r\n\r\n", BadChunkSize),
            ("non-hex", b"g\r\n", BadChunkSize),
            ("bare CR after size", b"5\rhello\r\n0\r\n\r\n", BadChunkSize),
            (
                "bare CR after ext",
                b"5;a\rhello\r\n0\r\n\r\n",
                BadChunkSize,
            ),
            ("empty ext name", b"5;\r\nhello\r\n0\r\n\r\n", BadChunkExt),
            (
                "empty ext name, ws",
                b"5; \r\nhello\r\n0\r\n\r\n",
                BadChunkExt,
            ),
            (
                "empty ext name, =",
                b"5;=b\r\nhello\r\n0\r\n\r\n",
                BadChunkExt,
            ),
            (
                "empty ext value",
                b"5;a=\r\nhello\r\n0\r\n\r\n",
                BadChunkExt,
            ),
            (
                "ws after ext name",
                b"5;a \r\nhello\r\n0\r\n\r\n",
                BadChunkExt,
            ),
            (
                "ws after ext value",
                b"5;a=b \r\nhello\r\n0\r\n\r\n",
                BadChunkExt,
            ),
            ("two values", b"5;a=b c\r\nhello\r\n0\r\n\r\n", BadChunkExt),
            (
                "separator in name",
                b"5;a(b\r\nhello\r\n0\r\n\r\n",
                BadChunkExt,
            ),
            ("NUL in name", b"5;a\0\r\nhello\r\n0\r\n\r\n", BadChunkExt),
            (
                "unterminated quote",
                b"5;a=\"x\r\nhello\r\n0\r\n\r\n",
                BadChunkExt,
            ),
            (
                "CTL in quote",
                b"5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n",
                BadChunkExt,
            ),
            (
                "CTL in quoted-pair",
                b"5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n",
                BadChunkExt,
            ),
            (
                "text after quote",
                b"5;a=\"x\"y\r\nhello\r\n0\r\n\r\n",
                BadChunkExt,
            ),
            (
                "17 significant digits",
                b"10000000000000000\r\n",
                ChunkSizeOverflow,
            ),
            ("17 f", b"fffffffffffffffff\r\n", ChunkSizeOverflow),
            (
                "too many leading zeros",
                b"000000000000000000000000000000001\r\n",
                ChunkSizeOverflow,
            ),
            (
                "data too long",
                b"5\r\nhelloX\r\n0\r\n\r\n",
                BadChunkFraming,
            ),
            ("data too short", b"5\r\nhel\r\n0\r\n\r\n", BadChunkFraming),
            (
                "bare CR after data",
                b"5\r\nhello\rX0\r\n\r\n",
                BadChunkFraming,
            ),
            (
                "CR CR after data",
                b"5\r\nhello\r\r\n0\r\n\r\n",
                BadChunkFraming,
            ),
            (
                "obs-fold in trailer",
                b"0\r\nA: b\r\n c\r\n\r\n",
                BadTrailer,
            ),
            (
                "ws before colon in trailer",
                b"0\r\nA : b\r\n\r\n",
                BadTrailer,
            ),
            ("no colon in trailer", b"0\r\nA\r\n\r\n", BadTrailer),
            ("empty trailer name", b"0\r\n: b\r\n\r\n", BadTrailer),
            ("NUL in trailer value", b"0\r\nA: \0\r\n\r\n", BadTrailer),
            (
                "bare CR in trailer value",
                b"0\r\nA: b\rc\r\n\r\n",
                BadTrailer,
            ),
            ("bare CR ending trailers", b"0\r\n\rX", BadTrailer),
        ];
        for &(label, wire, want) in table {
            assert_eq!(chunked(wire), Err(want), "{label}");
        }
    }

    /// Every place a chunked body has a line end (RFC 9112 §7.1, §7.1.2), with a bare LF in it:
    /// `BareLf` by default, accepted with `allow_bare_lf` (RFC 9112 §2.2 lets a recipient
    /// accept it; we do only when told to). A bare LF inside chunk data is data, either way.
    #[test]
    fn bare_lf_in_chunked_framing() {
        let permissive = Limits {
            allow_bare_lf: true,
            ..Limits::default()
        };
        // (label, wire, body with allow_bare_lf)
        let table: &[(&str, &[u8], &[u8])] = &[
            ("everywhere", b"5\nhello\n0\n\n", b"hello"),
            ("after chunk-size", b"5\nhello\r\n0\r\n\r\n", b"hello"),
            ("after ext name", b"5;a\nhello\r\n0\r\n\r\n", b"hello"),
            ("after ext token", b"5;a=b\nhello\r\n0\r\n\r\n", b"hello"),
            (
                "after quoted ext",
                b"5;a=\"b\"\nhello\r\n0\r\n\r\n",
                b"hello",
            ),
            ("after chunk data", b"5\r\nhello\n0\r\n\r\n", b"hello"),
            ("after last-chunk", b"5\r\nhello\r\n0\n\r\n", b"hello"),
            ("final empty line", b"5\r\nhello\r\n0\r\n\n", b"hello"),
            (
                "ending a trailer line",
                b"5\r\nhello\r\n0\r\nA: 1\nB:\r\n\r\n",
                b"hello",
            ),
            (
                "final empty line after trailers",
                b"5\r\nhello\r\n0\r\nA: 1\r\n\n",
                b"hello",
            ),
        ];
        for &(label, wire, body) in table {
            let mut input = wire.to_vec();
            input.extend_from_slice(NEXT_REQUEST);
            assert_eq!(chunked(&input), Err(ParseError::BareLf), "{label}");
            let (got, rest) = decode_with(BodyFraming::Chunked, &permissive, &input)
                .unwrap_or_else(|e| panic!("{label}: {e:?}"));
            assert_eq!(got, body, "{label}");
            assert_eq!(rest, NEXT_REQUEST, "{label}");
        }
        // LF (bare or not) in chunk data is data, and CRLF framing is fine, in both modes.
        let data_lf = b"3\r\n\n\r\n\r\n0\r\n\r\n";
        for limits in [&Limits::default(), &permissive] {
            let (got, _) = decode_with(BodyFraming::Chunked, limits, data_lf).unwrap();
            assert_eq!(got, b"\n\r\n");
        }
        // A bare CR is never a line end (§2.2), whatever the setting.
        for (wire, want) in [
            (&b"5\rhello\r\n0\r\n\r\n"[..], ParseError::BadChunkSize),
            (b"5\r\nhello\rX0\r\n\r\n", ParseError::BadChunkFraming),
            (b"0\r\nA: b\rc\r\n\r\n", ParseError::BadTrailer),
        ] {
            assert_eq!(
                decode_with(BodyFraming::Chunked, &permissive, wire),
                Err(want)
            );
        }
    }

    #[test]
    fn sixteen_digit_size_fits() {
        let limits = Limits {
            max_body_bytes: u64::MAX,
            ..Limits::default()
        };
        let mut dec = BodyDecoder::new(BodyFraming::Chunked, &limits);
        let mut buf = BytesMut::from(&b"ffffffffffffffff\r\nab"[..]);
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Decoded::Data(Bytes::from_static(b"ab")))
        );
        assert_eq!(dec.decode(&mut buf), Ok(Decoded::Incomplete));
        // Leading zeros do not count as significant digits.
        let mut dec = BodyDecoder::new(BodyFraming::Chunked, &limits);
        let mut buf = BytesMut::from(&b"0000ffffffffffffffff\r\n"[..]);
        assert_eq!(dec.decode(&mut buf), Ok(Decoded::Incomplete));
    }

    #[test]
    fn length_framing() {
        let limits = Limits::default();
        let mut input = b"hello".to_vec();
        input.extend_from_slice(NEXT_REQUEST);
        let (body, rest) = decode_with(BodyFraming::Length(5), &limits, &input).unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(rest, NEXT_REQUEST);

        for framing in [BodyFraming::Empty, BodyFraming::Length(0)] {
            let (body, rest) = decode_with(framing, &limits, NEXT_REQUEST).unwrap();
            assert!(body.is_empty());
            assert_eq!(rest, NEXT_REQUEST);
            assert!(BodyDecoder::new(framing, &limits).is_end());
        }
    }

    #[test]
    fn one_data_per_call_and_zero_copy() {
        let mut dec = BodyDecoder::new(BodyFraming::Chunked, &Limits::default());
        let mut buf = BytesMut::from(&b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"[..]);
        let start = buf.as_ptr();
        let Ok(Decoded::Data(first)) = dec.decode(&mut buf) else {
            panic!("expected data");
        };
        assert_eq!(first, "abc");
        // Split off the caller's buffer, not copied: it points into the original allocation.
        assert_eq!(first.as_ptr(), start.wrapping_add(3));
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Decoded::Data(Bytes::from_static(b"de")))
        );
        assert_eq!(dec.decode(&mut buf), Ok(Decoded::End));
        assert!(dec.is_chunked());
        assert_eq!(dec.body_bytes(), 5);
        assert!(!BodyDecoder::new(BodyFraming::Length(1), &Limits::default()).is_chunked());
    }

    #[test]
    fn max_body_bytes_edge() {
        let limits = Limits {
            max_body_bytes: 10,
            ..Limits::default()
        };
        // Content-Length at the limit passes; one over fails on the first call, consuming nothing.
        let (body, _) = decode_with(BodyFraming::Length(10), &limits, b"0123456789").unwrap();
        assert_eq!(body.len(), 10);
        let mut dec = BodyDecoder::new(BodyFraming::Length(11), &limits);
        let mut buf = BytesMut::from(&b"01234567890"[..]);
        assert_eq!(dec.decode(&mut buf), Err(ParseError::BodyTooLarge));
        assert_eq!(buf.len(), 11);
        assert_eq!(dec.body_bytes(), 0);

        // Chunked: cumulative, rejected at the size line of the chunk that crosses the limit.
        let at_limit = b"4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n";
        assert_eq!(
            decode_with(BodyFraming::Chunked, &limits, at_limit)
                .unwrap()
                .0
                .len(),
            10
        );
        let over = b"4\r\n0123\r\n7\r\n4567890\r\n0\r\n\r\n";
        assert_eq!(
            decode_with(BodyFraming::Chunked, &limits, over),
            Err(ParseError::BodyTooLarge)
        );
        let mut dec = BodyDecoder::new(BodyFraming::Chunked, &limits);
        let mut buf = BytesMut::from(&b"4\r\n0123\r\n7\r\n"[..]);
        assert!(matches!(dec.decode(&mut buf), Ok(Decoded::Data(_))));
        assert_eq!(dec.decode(&mut buf), Err(ParseError::BodyTooLarge));
        assert_eq!(dec.body_bytes(), 4);
    }

    #[test]
    fn max_chunk_ext_bytes_edge() {
        let limits = Limits {
            max_chunk_ext_bytes: 8,
            ..Limits::default()
        };
        // `;abc=def` is 8 extension bytes; with BWS before `;` the whitespace counts too.
        let at_limit = b"5;abc=def\r\nhello\r\n0 ;abcdef\r\n\r\n";
        assert!(decode_with(BodyFraming::Chunked, &limits, at_limit).is_ok());
        let over = b"5;abc=defg\r\nhello\r\n0\r\n\r\n";
        assert_eq!(
            decode_with(BodyFraming::Chunked, &limits, over),
            Err(ParseError::ChunkExtTooLarge)
        );
        let over_ws = b"5 ;abc=def\r\nhello\r\n0\r\n\r\n";
        assert_eq!(
            decode_with(BodyFraming::Chunked, &limits, over_ws),
            Err(ParseError::ChunkExtTooLarge)
        );
        // Enforced while the line is incomplete: no line end ever arrives.
        let mut dec = BodyDecoder::new(BodyFraming::Chunked, &limits);
        let mut buf = BytesMut::from(&b"5;aaaaaaaa"[..]);
        assert_eq!(dec.decode(&mut buf), Err(ParseError::ChunkExtTooLarge));
        // Endless whitespace after the size is bounded the same way.
        let mut dec = BodyDecoder::new(BodyFraming::Chunked, &limits);
        let mut buf = BytesMut::from(&[b' '; 9][..]);
        buf[0] = b'5';
        assert_eq!(dec.decode(&mut buf), Ok(Decoded::Incomplete));
        buf.extend_from_slice(b" ");
        assert_eq!(dec.decode(&mut buf), Err(ParseError::ChunkExtTooLarge));
    }

    #[test]
    fn size_line_is_bounded() {
        // Whatever the bytes, a size line never grows past digits + extensions + line end:
        // endless zero padding, whitespace, or an extension all fail before a line end.
        let limits = Limits::default();
        let bound = usize::from(MAX_SIZE_DIGITS) + limits.max_chunk_ext_bytes + 2;
        let zeros = vec![b'0'; bound];
        let mut spaces = vec![b' '; bound];
        spaces[0] = b'1';
        let mut ext = vec![b'a'; bound];
        ext[..2].copy_from_slice(b"1;");
        for (line, want) in [
            (zeros, ParseError::ChunkSizeOverflow),
            (spaces, ParseError::ChunkExtTooLarge),
            (ext, ParseError::ChunkExtTooLarge),
        ] {
            let mut dec = BodyDecoder::new(BodyFraming::Chunked, &limits);
            let mut buf = BytesMut::from(&line[..]);
            assert_eq!(dec.decode(&mut buf), Err(want));
        }
    }

    #[test]
    fn max_trailer_bytes_edge() {
        let limits = Limits {
            max_trailer_bytes: 12,
            ..Limits::default()
        };
        // "A: 1\r\n" + "B: 22\r\n" = 6 + 7 = 13; "A: 1\r\n" + "B: 2\r\n" = 12.
        let at_limit = b"0\r\nA: 1\r\nB: 2\r\n\r\n";
        assert!(decode_with(BodyFraming::Chunked, &limits, at_limit).is_ok());
        let over = b"0\r\nA: 1\r\nB: 22\r\n\r\n";
        assert_eq!(
            decode_with(BodyFraming::Chunked, &limits, over),
            Err(ParseError::TrailersTooLarge)
        );
        // Enforced on an incomplete trailer line too.
        let mut dec = BodyDecoder::new(BodyFraming::Chunked, &limits);
        let mut buf = BytesMut::from(&b"0\r\nX: aaaaaaaaaaaaaaaaaaaaaaa"[..]);
        assert_eq!(dec.decode(&mut buf), Err(ParseError::TrailersTooLarge));
    }

    #[test]
    fn incomplete_then_complete() {
        let mut dec = BodyDecoder::new(BodyFraming::Chunked, &Limits::default());
        let mut buf = BytesMut::new();
        assert_eq!(dec.decode(&mut buf), Ok(Decoded::Incomplete));
        buf.extend_from_slice(b"5\r\nhe");
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Decoded::Data(Bytes::from_static(b"he")))
        );
        assert_eq!(dec.decode(&mut buf), Ok(Decoded::Incomplete));
        buf.extend_from_slice(b"llo\r\n0\r\n");
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Decoded::Data(Bytes::from_static(b"llo")))
        );
        assert_eq!(dec.decode(&mut buf), Ok(Decoded::Incomplete));
        assert!(!dec.is_end());
        buf.extend_from_slice(b"\r\nNEXT");
        assert_eq!(dec.decode(&mut buf), Ok(Decoded::End));
        assert_eq!(dec.decode(&mut buf), Ok(Decoded::End));
        assert_eq!(&buf[..], b"NEXT");
    }

    /// A valid chunk extension, chosen by index: names, tokens, quoted strings, BWS.
    fn extension(i: u8) -> &'static str {
        const EXTS: &[&str] = &[
            "",
            "",
            ";a",
            ";name=value",
            " ;a=b",
            "\t; a = \"quoted \\\" string\"",
            ";x;y=1;z=\"\"",
            ";crc=\"abc;def\"",
        ];
        EXTS[usize::from(i) % EXTS.len()]
    }

    /// Encode `body` as chunked with chunk boundaries at `cuts`, and per-chunk choices from
    /// `styles` (hex case, zero padding, extension, line end).
    /// With `bare_lf` false every framing line ends in CRLF.
    fn chunk_wire(
        body: &[u8],
        cuts: &[usize],
        styles: &[u8],
        trailers: Option<&str>,
        bare_lf: bool,
    ) -> Vec<u8> {
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        bounds.push(0);
        bounds.push(body.len());
        bounds.sort_unstable();
        bounds.dedup();
        let mut wire = Vec::new();
        let mut style = styles.iter().copied().cycle();
        for pair in bounds.windows(2) {
            let chunk = &body[pair[0]..pair[1]];
            let s = style.next().unwrap_or(0);
            let eol: &[u8] = if s & 1 == 0 || !bare_lf {
                b"\r\n"
            } else {
                b"\n"
            };
            let size = match (s >> 1) & 3 {
                0 => format!("{:x}", chunk.len()),
                1 => format!("{:X}", chunk.len()),
                _ => format!("{:08x}", chunk.len()),
            };
            wire.extend_from_slice(size.as_bytes());
            wire.extend_from_slice(extension(s >> 3).as_bytes());
            wire.extend_from_slice(eol);
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(eol);
        }
        let s = style.next().unwrap_or(0);
        wire.extend_from_slice(b"0");
        wire.extend_from_slice(extension(s >> 3).as_bytes());
        wire.extend_from_slice(b"\r\n");
        if let Some(trailers) = trailers {
            if bare_lf {
                wire.extend_from_slice(trailers.as_bytes());
            } else {
                wire.extend_from_slice(
                    trailers
                        .replace("\r\n", "\n")
                        .replace('\n', "\r\n")
                        .as_bytes(),
                );
            }
        }
        wire.extend_from_slice(b"\r\n");
        wire
    }

    /// Split `wire` at the given points (taken modulo its length).
    fn pieces<'a>(wire: &'a [u8], splits: &[usize]) -> Vec<&'a [u8]> {
        let mut points: Vec<usize> = splits.iter().map(|s| s % (wire.len() + 1)).collect();
        points.push(0);
        points.push(wire.len());
        points.sort_unstable();
        points.dedup();
        points.windows(2).map(|p| &wire[p[0]..p[1]]).collect()
    }

    fn trailers() -> impl Strategy<Value = Option<&'static str>> {
        prop::option::of(prop::sample::select(vec![
            "X-Checksum: abc\r\n",
            "A: 1\r\nB:\r\nC:  spaced value \t\r\n",
            "Expires: Wed, 21 Oct 2015 07:28:00 GMT\n",
        ]))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn chunked_any_split(
            body in prop::collection::vec(any::<u8>(), 0..64 * 1024),
            cuts in prop::collection::vec(any::<usize>(), 0..24),
            styles in prop::collection::vec(any::<u8>(), 1..24),
            trailers in trailers(),
            splits in prop::collection::vec(any::<usize>(), 0..32),
            allow_bare_lf in any::<bool>(),
        ) {
            // Bare LF line ends only where they are allowed; CRLF is valid either way.
            let mut wire = chunk_wire(&body, &cuts, &styles, trailers, allow_bare_lf);
            wire.extend_from_slice(NEXT_REQUEST);
            let pieces = pieces(&wire, &splits);
            let limits = Limits { allow_bare_lf, ..Limits::default() };
            let (got, rest) = feed(BodyFraming::Chunked, &limits, &pieces)
                .expect("valid chunked body");
            prop_assert_eq!(got, body);
            prop_assert_eq!(rest, NEXT_REQUEST);
        }

        #[test]
        fn length_any_split(
            body in prop::collection::vec(any::<u8>(), 0..64 * 1024),
            splits in prop::collection::vec(any::<usize>(), 0..32),
        ) {
            let mut wire = body.clone();
            wire.extend_from_slice(NEXT_REQUEST);
            let framing = BodyFraming::Length(body.len() as u64);
            let (got, rest) = feed(framing, &Limits::default(), &pieces(&wire, &splits))
                .expect("valid body");
            prop_assert_eq!(got, body);
            prop_assert_eq!(rest, NEXT_REQUEST);
        }

        /// Arbitrary bytes never panic, and splitting never changes the outcome.
        #[test]
        fn chunked_garbage_split_invariant(
            wire in prop::collection::vec(any::<u8>(), 0..256),
            splits in prop::collection::vec(any::<usize>(), 0..8),
            allow_bare_lf in any::<bool>(),
        ) {
            let limits = Limits { allow_bare_lf, ..Limits::default() };
            let mut whole = BodyDecoder::new(BodyFraming::Chunked, &limits);
            let mut split = BodyDecoder::new(BodyFraming::Chunked, &limits);
            let a = drain(&mut whole, &[&wire[..]]);
            let b = drain(&mut split, &pieces(&wire, &splits));
            prop_assert_eq!(a, b);
        }
    }

    /// Feed all pieces and collect (body, outcome) without requiring the body to end.
    fn drain(dec: &mut BodyDecoder, pieces: &[&[u8]]) -> (Vec<u8>, Result<bool, ParseError>) {
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Decoded::Data(d)) => body.extend_from_slice(&d),
                    Ok(Decoded::Incomplete) => break,
                    Ok(Decoded::End) => return (body, Ok(true)),
                    Err(e) => return (body, Err(e)),
                }
            }
        }
        (body, Ok(false))
    }
}
