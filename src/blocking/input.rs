//! The blocking request body.

use std::io::{self, BufRead, Read};
use std::sync::Arc;

use bytes::{Buf, Bytes};

use crate::error::{Error, Result};
use crate::rt::BlockingTransport;

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
