//! Blocking, PEP 3333-style apps and the bridge that serves them.

use std::sync::Arc;

use bytes::Bytes;

use crate::blocking::{Input, StartResponse, SyncExchange};
use crate::error::Result;
use crate::exchange::{App, Exchange, Outcome};
use crate::request::Request;

/// A response body for a blocking app: an iterator of chunks, sent one by one.
pub struct ResponseBody(Box<dyn Iterator<Item = Result<Bytes>>>);

impl ResponseBody {
    /// No body.
    pub fn empty() -> ResponseBody {
        ResponseBody(Box::new(std::iter::empty()))
    }

    /// One chunk.
    pub fn once(data: impl Into<Bytes>) -> ResponseBody {
        ResponseBody(Box::new(std::iter::once(Ok(data.into()))))
    }

    /// Any iterator of chunks.
    pub fn chunks<I>(iter: I) -> ResponseBody
    where
        I: IntoIterator<Item = Result<Bytes>>,
        I::IntoIter: 'static,
    {
        ResponseBody(Box::new(iter.into_iter()))
    }
}

impl Iterator for ResponseBody {
    type Item = Result<Bytes>;

    fn next(&mut self) -> Option<Result<Bytes>> {
        self.0.next()
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseBody(..)")
    }
}

/// A blocking, PEP 3333-style application: called on a pool thread with the environ, a
/// blocking input and `start_response`; returns the body as an iterator.
pub trait SyncApp: Send + Sync + 'static {
    /// Handle one request.
    fn call(
        &self,
        req: &mut Request,
        input: &mut Input,
        start: &mut StartResponse,
    ) -> Result<ResponseBody>;
}

impl<F> SyncApp for F
where
    F: Fn(&mut Request, &mut Input, &mut StartResponse) -> Result<ResponseBody>
        + Send
        + Sync
        + 'static,
{
    fn call(
        &self,
        req: &mut Request,
        input: &mut Input,
        start: &mut StartResponse,
    ) -> Result<ResponseBody> {
        self(req, input, start)
    }
}

/// Run a blocking app to completion in a switched exchange: call it, then send its body
/// chunk by chunk (each send blocks until the connection took it).
pub fn run_sync_app<S: SyncApp + ?Sized>(app: &S, mut sx: SyncExchange) -> Result<Outcome> {
    let body = app.call(&mut sx.request, &mut sx.input, &mut sx.response)?;
    for chunk in body {
        sx.response.write(chunk?)?;
    }
    sx.response.end(Bytes::new())
}

/// The bridge the seed requires: an async-aware app that switches at once and runs a plain
/// blocking app on the pool. Put async-aware middleware around it; sync middleware goes
/// inside (around the `SyncApp`).
pub fn bridge<S: SyncApp>(app: S) -> impl App {
    let app = Arc::new(app);
    move |ex: Exchange| {
        let app = Arc::clone(&app);
        async move { Ok(ex.switch_to_sync(move |sx| run_sync_app(&*app, sx))) }
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;

    use futures::executor::block_on;
    use http::{HeaderMap, StatusCode};

    use super::*;
    use crate::blocking::{add_header, content_length};
    use crate::rt::take_switch;
    use crate::rt::testing::Script;

    fn lines(
        _: &mut Request,
        input: &mut Input,
        start: &mut StartResponse,
    ) -> Result<ResponseBody> {
        let n = input.lines().count();
        start.start(StatusCode::OK, HeaderMap::new())?;
        Ok(ResponseBody::chunks(vec![
            Ok(Bytes::from(format!("lines={n}"))),
            Ok(Bytes::from_static(b";")),
        ]))
    }

    fn serve(app: impl App, script: &Script) {
        let ex = script.exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4");
        let outcome = block_on(app.call(ex)).unwrap();
        let _ = take_switch(outcome)
            .expect("bridge switches")
            .into_job()
            .run()
            .unwrap();
    }

    #[test]
    fn bridge_sends_the_body_chunk_by_chunk() {
        let script = Script::new();
        script.chunk("a\nb\n").eof();
        serve(bridge(lines), &script);
        let sent = script.sent();
        let bodies: Vec<&[u8]> = sent.iter().map(|s| &s.body[..]).collect();
        assert_eq!(bodies, [&b"lines=2"[..], b";", b""]);
        assert!(sent[0].status.is_some() && sent[2].end);
    }

    #[test]
    fn sync_middleware_sees_the_pending_head() {
        let script = Script::new();
        script.chunk("a\n").eof();
        serve(
            bridge(add_header(content_length(lines, 64), "x-m", "1")),
            &script,
        );
        let sent = script.sent_parts();
        assert_eq!(
            sent.len(),
            2,
            "content_length buffers the body into one part"
        );
        assert_eq!(&sent[0].body[..], b"lines=1;");
        let head = sent[0].head.as_ref().unwrap();
        assert_eq!(head.headers["content-length"], "8");
        assert_eq!(head.headers["x-m"], "1");
    }
}
