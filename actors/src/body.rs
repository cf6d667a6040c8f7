//! The request-body stage: the per-request decoder that turns socket bytes into body chunks,
//! one chunk per [`ReadChunk`](crate::messages::ReadChunk), only when asked.
//!
//! - **Owns**: the request's [`BodyDecoder`], the one outstanding chunk request (the reply
//!   sender of a `ReadChunk`), and the `Expect: 100-continue` state.
//! - **Receives**: (through its connection) `ReadChunk` from the app's transport or a
//!   blocking reader; bytes the connection read from the socket because this stage asked.
//! - **Sends**: one `ChunkReply` per `ReadChunk`: a chunk, the end, or an error.
//! - **Stops when**: the body is complete, fails to decode, or the connection ends.
//!
//! It is a stage inside the connection actor rather than an actor of its own: the bytes it
//! decodes live in the connection's read buffer, and a separate actor would cost one more
//! mailbox hop per chunk while adding no concurrency (one request reads at a time). Its
//! contract is the same: nothing is read from the socket unless a chunk has been asked for,
//! so an app that never reads leaves the upload in the client's TCP window.

use bytes::BytesMut;
use futures::channel::oneshot;
use weir::h1::{BodyDecoder, BodyFraming, Decoded, ParseError};
use weir::{Error, Limits};

use crate::messages::ChunkReply;

/// `Expect: 100-continue` handling (RFC 9110 §10.1.1): the interim response goes out only
/// when the app first asks for the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// No expectation, or already answered.
    None,
    /// The client waits for `100 Continue`; not sent yet.
    Pending,
    /// `100 Continue` was sent.
    Sent,
}

/// What a pump of the stage did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pump {
    /// Nothing asked for, or the ask was answered.
    Idle,
    /// A chunk is asked for and the buffer cannot answer it: read the socket.
    NeedRead,
    /// Decoding failed; the connection's framing is unknown from here on.
    Failed(ParseError),
}

/// The request-body stage (see the module docs).
#[derive(Debug)]
pub(crate) struct BodyStage {
    decoder: BodyDecoder,
    want: Option<oneshot::Sender<ChunkReply>>,
    pub(crate) expect: Expect,
    failed: Option<ParseError>,
}

impl BodyStage {
    pub(crate) fn new(framing: BodyFraming, expect_continue: bool, limits: &Limits) -> BodyStage {
        let decoder = BodyDecoder::new(framing, limits);
        let expect = if expect_continue && !decoder.is_end() {
            Expect::Pending
        } else {
            Expect::None
        };
        BodyStage {
            decoder,
            want: None,
            expect,
            failed: None,
        }
    }

    /// Record a chunk request. Replaces (and so cancels) an older one, which the exchange's
    /// one-at-a-time rule makes impossible in practice.
    pub(crate) fn ask(&mut self, reply: oneshot::Sender<ChunkReply>) {
        if let Some(e) = self.failed {
            let _ = reply.send(Err(e.into()));
            return;
        }
        self.want = Some(reply);
    }

    /// Whether a chunk has been asked for and not answered.
    pub(crate) fn is_wanted(&self) -> bool {
        self.want.is_some()
    }

    /// Whether the whole body has been decoded.
    pub(crate) fn is_complete(&self) -> bool {
        self.decoder.is_end()
    }

    /// Whether decoding failed (the rest of the connection's input is unframed).
    pub(crate) fn has_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Answer the outstanding ask from `buf` if it can.
    pub(crate) fn pump(&mut self, buf: &mut BytesMut) -> Pump {
        if self.want.is_none() {
            return Pump::Idle;
        }
        match self.decoder.decode(buf) {
            Ok(Decoded::Incomplete) => Pump::NeedRead,
            Ok(Decoded::Data(chunk)) => {
                self.answer(Ok(Some(chunk)));
                Pump::Idle
            }
            Ok(Decoded::End) => {
                self.answer(Ok(None));
                Pump::Idle
            }
            Err(e) => {
                self.failed = Some(e);
                self.answer(Err(e.into()));
                Pump::Failed(e)
            }
        }
    }

    /// Discard decoded body from `buf` (after the response ended). Returns the bytes
    /// discarded, or the decode error.
    pub(crate) fn drain(&mut self, buf: &mut BytesMut) -> Result<(u64, bool), ParseError> {
        let mut n = 0;
        loop {
            match self.decoder.decode(buf)? {
                Decoded::Data(chunk) => n += chunk.len() as u64,
                Decoded::End => return Ok((n, true)),
                Decoded::Incomplete => return Ok((n, false)),
            }
        }
    }

    /// Fail the outstanding ask (timeout, disconnect).
    pub(crate) fn fail_want(&mut self, err: Error) {
        self.answer(Err(err));
    }

    fn answer(&mut self, reply: ChunkReply) {
        if let Some(tx) = self.want.take() {
            // The app may have given up on the read; that is not an error here.
            let _ = tx.send(reply);
        }
    }
}
