//! The blocking request body.

use std::io::{self, BufRead, Read};
use std::sync::Arc;

use bytes::{Buf, Bytes};

use crate::error::{Error, Result};
use crate::rt::transport::BlockingTransport;

/// The blocking request body: `std::io::Read` and `BufRead` over the rest of the body.
/// Reads end with `Ok(0)` at the end of the body, whatever its framing.
pub struct Input {
    transport: Arc<dyn BlockingTransport>,
    chunk: Bytes,
    done: bool,
    /// Body bytes this input handed out.
    read: u64,
}

impl Input {
    pub(crate) fn new(transport: Arc<dyn BlockingTransport>, done: bool) -> Input {
        Input {
            transport,
            chunk: Bytes::new(),
            done,
            read: 0,
        }
    }

    /// Bytes handed out by this input so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// The next whole chunk as it arrived (after any buffered remainder), `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if !self.chunk.is_empty() {
            let c = std::mem::take(&mut self.chunk);
            self.read += c.len() as u64;
            return Ok(Some(c));
        }
        if self.done {
            return Ok(None);
        }
        match self.transport.read_chunk() {
            Ok(Some(c)) => {
                self.read += c.len() as u64;
                Ok(Some(c))
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("buffered", &self.chunk.len())
            .field("done", &self.done)
            .finish()
    }
}

fn to_io(e: Error) -> io::Error {
    let kind = if e.is_disconnected() {
        io::ErrorKind::ConnectionAborted
    } else if e.is_timeout() {
        io::ErrorKind::TimedOut
    } else {
        io::ErrorKind::InvalidData
    };
    io::Error::new(kind, e)
}

impl BufRead for Input {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.chunk.is_empty() && !self.done {
            match self.transport.read_chunk() {
                Ok(Some(c)) => self.chunk = c,
                Ok(None) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Err(to_io(e));
                }
            }
        }
        Ok(&self.chunk)
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.chunk.len());
        self.chunk.advance(amt);
        self.read += amt as u64;
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, ErrorKind, Read};

    use super::*;
    use crate::h1::ParseError;
    use crate::rt::testing::Script;

    fn input(script: &Script) -> Input {
        Input::new(script.blocking(), false)
    }

    #[test]
    fn lines_cross_chunk_boundaries() {
        let script = Script::new();
        script.chunk("ab\ncd").chunk("e\nf").eof();
        let lines: Vec<String> = input(&script).lines().map(|l| l.unwrap()).collect();
        assert_eq!(lines, ["ab", "cde", "f"]);
    }

    #[test]
    fn small_reads_refill_then_end_with_zero() {
        let script = Script::new();
        script.chunk("abcde").chunk("fg").eof();
        let mut input = input(&script);
        let mut buf = [0u8; 3];
        let mut got = Vec::new();
        loop {
            let n = input.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"abcdefg");
        assert_eq!(input.bytes_read(), 7);
        let reads = script.reads();
        assert_eq!(input.read(&mut buf).unwrap(), 0, "the end stays the end");
        assert_eq!(script.reads(), reads, "without asking the connection again");
    }

    #[test]
    fn empty_chunks_are_skipped() {
        let script = Script::new();
        script.chunk("").chunk("x").eof();
        let mut s = String::new();
        input(&script).read_to_string(&mut s).unwrap();
        assert_eq!(s, "x");
    }

    #[test]
    fn a_done_input_never_asks() {
        let script = Script::new();
        let mut input = Input::new(script.blocking(), true);
        assert_eq!(input.read(&mut [0u8; 4]).unwrap(), 0);
        assert_eq!(input.next_chunk().unwrap(), None);
        assert_eq!(script.reads(), 0);
    }

    #[test]
    fn next_chunk_hands_out_the_buffered_rest_first() {
        let script = Script::new();
        script.chunk("abcd").chunk("ef").eof();
        let mut input = input(&script);
        let mut two = [0u8; 2];
        input.read_exact(&mut two).unwrap();
        assert_eq!(input.next_chunk().unwrap().unwrap(), "cd");
        assert_eq!(input.next_chunk().unwrap().unwrap(), "ef");
        assert_eq!(input.next_chunk().unwrap(), None);
        assert_eq!(input.bytes_read(), 6);
    }

    #[test]
    fn errors_map_to_io_kinds() {
        let cases = [
            (Error::disconnected(), ErrorKind::ConnectionAborted),
            (Error::body_timeout(), ErrorKind::TimedOut),
            (
                Error::from(ParseError::BadChunkSize),
                ErrorKind::InvalidData,
            ),
        ];
        for (error, kind) in cases {
            let script = Script::new();
            script.chunk("ok").fail(error);
            let mut input = input(&script);
            let mut s = String::new();
            let e = input.read_to_string(&mut s).unwrap_err();
            assert_eq!(e.kind(), kind, "{e}");
            let inner = e.into_inner().unwrap().downcast::<Error>().unwrap();
            assert_eq!(
                inner.is_disconnected(),
                kind == ErrorKind::ConnectionAborted
            );
            assert_eq!(
                input.read(&mut [0u8; 4]).unwrap(),
                0,
                "an error ends the input"
            );
        }
    }

    #[test]
    fn next_chunk_passes_errors_through() {
        let script = Script::new();
        script.fail(Error::disconnected());
        let mut input = input(&script);
        assert!(input.next_chunk().unwrap_err().is_disconnected());
        assert_eq!(input.next_chunk().unwrap(), None);
    }
}
