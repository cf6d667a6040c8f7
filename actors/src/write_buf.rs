//! The connection's write buffer: small pieces (heads, chunk framing, small bodies) are
//! copied into one contiguous tail; large body chunks are queued by reference and written
//! with vectored writes, so streaming a large response copies nothing.
//!
//! The queue is boxed and made only when a large chunk arrives, so an idle connection pays
//! one pointer for it.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use weir::h1::BodySink;

use crate::io::Io;

/// Chunks at least this large are queued by reference instead of copied: below it, a copy
/// is cheaper than an extra iovec and reference count.
const ZERO_COPY_MIN: usize = 8 * 1024;

/// Buffers handed to one `writev` at most (Linux allows 1024; a few dozen saturate it).
const MAX_IOVECS: usize = 32;

/// Pending output: `queue` (oldest first) then `tail`.
#[derive(Default)]
pub(crate) struct WriteBuf {
    tail: BytesMut,
    queue: Option<Box<Queue>>,
    /// Bytes written to the stream, ever (for the minimum response rate's accounting).
    written: u64,
}

#[derive(Default)]
struct Queue {
    bufs: VecDeque<Bytes>,
    len: usize,
}

impl WriteBuf {
    /// Bytes waiting to be written.
    pub(crate) fn len(&self) -> usize {
        self.tail.len() + self.queue.as_ref().map_or(0, |q| q.len)
    }

    /// Bytes written to the stream since the connection started.
    pub(crate) fn total_written(&self) -> u64 {
        self.written
    }

    /// Nothing waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The contiguous tail, for encoders that write heads and framing into a `BytesMut`.
    pub(crate) fn tail(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Write as much as the socket takes now; `Ready(Ok(()))` once everything is written.
    /// `progressed` is set if any byte was written (for the write timeout).
    pub(crate) fn poll_write(
        &mut self,
        io: &mut dyn Io,
        cx: &mut Context<'_>,
        progressed: &mut bool,
    ) -> Poll<io::Result<()>> {
        let mut io = Pin::new(io);
        while !self.is_empty() {
            let res = match &self.queue {
                Some(q) if !q.bufs.is_empty() => {
                    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                    let mut n = 0;
                    for b in q.bufs.iter().take(MAX_IOVECS - 1) {
                        slices[n] = IoSlice::new(b);
                        n += 1;
                    }
                    slices[n] = IoSlice::new(&self.tail);
                    io.as_mut().poll_write_vectored(cx, &slices[..=n])
                }
                _ => io.as_mut().poll_write(cx, &self.tail),
            };
            match futures::ready!(res) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    *progressed = true;
                    self.advance(n);
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        // A TLS stream buffers what it encrypts; flushing it is what puts it on the wire
        // (a no-op for TCP).
        io.poll_flush(cx)
    }

    fn advance(&mut self, mut n: usize) {
        self.written += n as u64;
        if let Some(q) = &mut self.queue {
            while n > 0 {
                let Some(front) = q.bufs.front_mut() else {
                    break;
                };
                let k = n.min(front.len());
                front.advance(k);
                q.len -= k;
                n -= k;
                if front.is_empty() {
                    q.bufs.pop_front();
                }
            }
        }
        self.tail.advance(n);
    }

    /// Give memory back when nothing is waiting (idle connections hold no buffers): the
    /// tail is returned for the caller's pool.
    pub(crate) fn release(&mut self) -> Option<BytesMut> {
        if !self.is_empty() {
            return None;
        }
        self.queue = None;
        (self.tail.capacity() > 0).then(|| std::mem::take(&mut self.tail))
    }
}

impl BodySink for WriteBuf {
    fn put_slice(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
    }

    fn put_bytes(&mut self, bytes: Bytes) {
        if bytes.len() < ZERO_COPY_MIN {
            self.tail.extend_from_slice(&bytes);
            return;
        }
        let q = self.queue.get_or_insert_with(Box::default);
        // What is in the tail goes first: move it into the queue ahead of the chunk.
        if !self.tail.is_empty() {
            let head = self.tail.split().freeze();
            q.len += head.len();
            q.bufs.push_back(head);
        }
        q.len += bytes.len();
        q.bufs.push_back(bytes);
    }
}
