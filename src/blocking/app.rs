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
