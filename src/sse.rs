//! Server-sent events framing (`text/event-stream`, HTML Living Standard §9.2): event
//! encoding, comment keep-alives, and `Last-Event-ID`.
//!
//! Sans-I/O: these build bytes to `send`; the timer-driven stream loop lives in the runtime
//! (`weir_actors::comet::sse`).

use bytes::{BufMut, Bytes, BytesMut};

use crate::Request;

/// Response headers for an event stream: the media type, and no caching or proxy buffering
/// (each event must reach the client as it is sent).
pub const HEADERS: [(&str, &str); 3] = [
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache"),
    ("x-accel-buffering", "no"),
];

/// A comment line the client ignores: sent every few seconds so idle streams survive
/// proxies and the server notices dead clients.
pub const KEEPALIVE: &[u8] = b": keep-alive\n\n";

/// One event.
#[derive(Clone, Debug, Default)]
pub struct Event<'a> {
    /// `id:`; the client sends it back as `Last-Event-ID` when it reconnects.
    pub id: Option<u64>,
    /// `event:` type (default `message`).
    pub event: Option<&'a str>,
    /// `data:`; each line becomes its own `data:` line.
    pub data: &'a str,
    /// `retry:` reconnection delay in milliseconds.
    pub retry: Option<u32>,
}

impl Event<'_> {
    /// Encode the event, ending with the blank line that dispatches it.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.data.len() + 32);
        if let Some(r) = self.retry {
            out.put_slice(format!("retry: {r}\n").as_bytes());
        }
        if let Some(id) = self.id {
            out.put_slice(format!("id: {id}\n").as_bytes());
        }
        if let Some(ev) = self.event {
            // A type with a line break would end the field early: keep its first line.
            let ev = ev.lines().next().unwrap_or("");
            out.put_slice(b"event: ");
            out.put_slice(ev.as_bytes());
            out.put_u8(b'\n');
        }
        // CR, LF and CRLF all end a line in the event-stream grammar; `lines` splits on LF
        // and strips a CR before it; lone CRs are split too.
        for line in self.data.split('\n') {
            for piece in line.strip_suffix('\r').unwrap_or(line).split('\r') {
                out.put_slice(b"data: ");
                out.put_slice(piece.as_bytes());
                out.put_u8(b'\n');
            }
        }
        out.put_u8(b'\n');
        out.freeze()
    }
}

/// The `Last-Event-ID` the client sent on reconnect, if it is a number.
pub fn last_event_id(req: &Request) -> Option<u64> {
    req.headers()
        .get("last-event-id")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_fields_and_multiline_data() {
        let e = Event {
            id: Some(7),
            event: Some("chat"),
            data: "a\nb\r\nc",
            retry: Some(1000),
        };
        assert_eq!(
            &e.encode()[..],
            b"retry: 1000\nid: 7\nevent: chat\ndata: a\ndata: b\ndata: c\n\n"
        );
        let plain = Event {
            data: "x",
            ..Event::default()
        };
        assert_eq!(&plain.encode()[..], b"data: x\n\n");
    }
}
