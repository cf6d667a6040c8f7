//! The request an app is called with (the seed's `environ`) and the connection facts behind
//! it.

use std::borrow::Cow;
use std::fmt;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

use http::{HeaderMap, Method, Version};

use crate::h1::{BodyFraming, RequestHead};

/// What a request knows about its connection: both addresses and whether it is TLS.
///
/// Built by the runtime once per connection and copied into each request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    peer: SocketAddr,
    /// The local address with the TLS flag folded into its variant: a waiting Comet request
    /// holds a copy of this, and a separate `bool` would add a padded word to every one.
    local: Local,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Local {
    PlainV4(SocketAddrV4),
    PlainV6(SocketAddrV6),
    TlsV4(SocketAddrV4),
    TlsV6(SocketAddrV6),
}

impl ConnInfo {
    /// A plain-TCP connection from `peer` to `local`.
    pub fn new(peer: SocketAddr, local: SocketAddr) -> ConnInfo {
        ConnInfo::with_secure(peer, local, false)
    }

    /// A connection from `peer` to `local`, TLS when `secure`.
    pub fn with_secure(peer: SocketAddr, local: SocketAddr, secure: bool) -> ConnInfo {
        let local = match (local, secure) {
            (SocketAddr::V4(a), false) => Local::PlainV4(a),
            (SocketAddr::V6(a), false) => Local::PlainV6(a),
            (SocketAddr::V4(a), true) => Local::TlsV4(a),
            (SocketAddr::V6(a), true) => Local::TlsV6(a),
        };
        ConnInfo { peer, local }
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The server's address the connection arrived on.
    pub fn local_addr(&self) -> SocketAddr {
        match self.local {
            Local::PlainV4(a) | Local::TlsV4(a) => SocketAddr::V4(a),
            Local::PlainV6(a) | Local::TlsV6(a) => SocketAddr::V6(a),
        }
    }

    /// Whether the connection is TLS.
    pub fn is_secure(&self) -> bool {
        matches!(self.local, Local::TlsV4(_) | Local::TlsV6(_))
    }
}

impl fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnInfo")
            .field("peer", &self.peer)
            .field("local", &self.local_addr())
            .field("secure", &self.is_secure())
            .finish()
    }
}

/// The request an app is called with: the seed's `environ`.
pub struct Request {
    head: RequestHead,
    conn: ConnInfo,
    extensions: http::Extensions,
}

impl Request {
    pub(crate) fn new(head: RequestHead, conn: ConnInfo) -> Request {
        Request {
            head,
            conn,
            extensions: http::Extensions::new(),
        }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The request-target exactly as sent.
    pub fn target(&self) -> &str {
        &self.head.target
    }

    /// The path part of the target (not percent-decoded).
    pub fn path(&self) -> &str {
        self.head.path()
    }

    /// The query part of the target, without the `?`, exactly as sent.
    pub fn query(&self) -> Option<&str> {
        self.head.query()
    }

    /// The first value of query parameter `name`, decoded as
    /// `application/x-www-form-urlencoded` (`%20` and `+` are spaces). Names are compared
    /// after decoding. Borrowed from the target unless decoding changed something.
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Every query parameter in order, names and values decoded as
    /// `application/x-www-form-urlencoded`; empty without a query.
    pub fn query_pairs(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
        form_urlencoded::parse(self.query().unwrap_or("").as_bytes())
    }

    /// The first value of query parameter `name` exactly as sent: split on `&` and `=`, not
    /// decoded (for values whose escapes the app wants to see).
    pub fn raw_query_param(&self, name: &str) -> Option<&str> {
        self.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }

    /// The protocol version (HTTP/1.0 or HTTP/1.1).
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// How the body is framed: empty, a Content-Length, or chunked.
    pub fn framing(&self) -> BodyFraming {
        self.head.framing
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.conn.peer_addr()
    }

    /// The server's address this request arrived on.
    pub fn local_addr(&self) -> SocketAddr {
        self.conn.local_addr()
    }

    /// Whether the request came over TLS.
    pub fn is_secure(&self) -> bool {
        self.conn.is_secure()
    }

    /// The URL scheme: `"https"` over TLS, `"http"` otherwise.
    pub fn scheme(&self) -> &'static str {
        if self.is_secure() {
            "https"
        } else {
            "http"
        }
    }

    /// Server- and middleware-specific values, keyed by type.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Mutable access to the extensions, for middleware that adds keys.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// Mutable access to the headers, for middleware that rewrites them.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.head.headers
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", self.method())
            .field("target", &self.target())
            .field("version", &self.version())
            .field("peer", &self.peer_addr())
            .finish_non_exhaustive()
    }
}
