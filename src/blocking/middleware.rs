//! Sync middleware: wrappers around a [`SyncApp`] that adjust its response.

use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH};

use crate::blocking::{Input, ResponseBody, StartResponse, SyncApp};
use crate::error::Error;
use crate::request::Request;

/// Sync middleware: adds a header to every response of the wrapped app (unless present).
pub fn add_header<S: SyncApp>(inner: S, name: &'static str, value: &'static str) -> impl SyncApp {
    let name = HeaderName::from_static(name);
    let value = HeaderValue::from_static(value);
    move |req: &mut Request, input: &mut Input, start: &mut StartResponse| {
        let body = inner.call(req, input, start)?;
        if let Some(h) = start.headers_mut() {
            h.entry(name.clone()).or_insert_with(|| value.clone());
        }
        Ok(body)
    }
}

/// Sync middleware: buffers the wrapped app's body to compute its `content-length` (for
/// apps whose bodies are small and whose clients want a length). Bounded by `max` bytes;
/// past it the response fails with 500 rather than buffer without bound.
pub fn content_length<S: SyncApp>(inner: S, max: usize) -> impl SyncApp {
    move |req: &mut Request, input: &mut Input, start: &mut StartResponse| {
        let body = inner.call(req, input, start)?;
        if start.is_committed() {
            // The app used write(): the head is out, nothing to compute.
            return Ok(body);
        }
        let mut all = bytes::BytesMut::new();
        for chunk in body {
            let chunk = chunk?;
            if all.len() + chunk.len() > max {
                return Err(Error::other(
                    "body over the content-length middleware's bound",
                ));
            }
            all.extend_from_slice(&chunk);
        }
        if let Some(h) = start.headers_mut() {
            h.insert(CONTENT_LENGTH, HeaderValue::from(all.len()));
        }
        Ok(ResponseBody::once(all.freeze()))
    }
}
