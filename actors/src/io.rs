//! The connection's byte stream, as a part that can be taken out: TCP today, TLS next, an
//! in-memory pipe in tests.
//!
//! The connection actor sees only [`Io`]: a non-blocking byte stream (tokio's `AsyncRead` +
//! `AsyncWrite`) that it reads into its buffer, writes with vectored writes, and shuts down
//! for writing (a lingering close, or the end of a `Connection: close` response). What the
//! transport is (plain TCP, TLS, a test double) and what the request learns of it (addresses,
//! whether it is encrypted) come with it as a [`ConnInfo`], so the HTTP/1 state machine has
//! no arm for any particular transport.

use actix_rt::net::TcpStream;
use tokio::io::{AsyncRead, AsyncWrite};
use weir::rt::ConnInfo;

/// A connection's byte stream: anything that reads and writes without blocking, and can be
/// dropped hard.
///
/// Implemented for `TcpStream` and `tokio::io::DuplexStream`; a stream of your own needs only
/// `impl Io for MyStream {}` (or an `abort` that resets it). The connection holds it boxed:
/// one allocation per connection buys a connection actor that is not generic over its
/// transport (one copy of its code, and message types that do not carry a type parameter).
pub trait Io: AsyncRead + AsyncWrite + Unpin + 'static {
    /// Make the coming drop discard what is still queued for the peer, instead of letting
    /// the kernel deliver it at the peer's pace: for clients reaped for reading too slowly
    /// (write timeout, minimum response rate), whose queued bytes would otherwise hold
    /// kernel memory and keep trickling out long after weir has let go. By default nothing:
    /// the stream is just dropped.
    fn abort(&mut self) {}

    /// The kernel's send buffer for this stream, if it has one: how much a slow reader may
    /// have queued beyond weir's own write buffer (the minimum response rate allows for it).
    fn send_buffer_size(&self) -> Option<usize> {
        None
    }
}

impl Io for TcpStream {
    fn send_buffer_size(&self) -> Option<usize> {
        socket2::SockRef::from(self).send_buffer_size().ok()
    }

    /// `SO_LINGER` 0: the close resets the connection and frees the send buffer at once.
    fn abort(&mut self) {
        // Through socket2: tokio deprecates `set_linger` because a non-zero linger blocks
        // the thread on drop; zero does not (the close resets at once).
        let _ = socket2::SockRef::from(&*self).set_linger(Some(std::time::Duration::ZERO));
    }
}

impl Io for tokio::io::DuplexStream {}

/// A stream that is no longer here: what a connection holds after handing its real stream
/// to another actor (a WebSocket upgrade). Reads see end of input, writes fail, shutdown
/// succeeds, so nothing can touch the socket that moved.
pub struct Detached;

impl Io for Detached {}

impl AsyncRead for Detached {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        _buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Detached {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        _buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Err(std::io::ErrorKind::NotConnected.into()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Prepare an accepted TCP stream: set `TCP_NODELAY` and read its addresses.
///
/// `TCP_NODELAY` matters for a server that answers with small writes: with Nagle's algorithm
/// on, a small write behind one not yet acknowledged waits for the client's delayed ACK
/// (about 40 ms on Linux), so a streamed response's pieces and pipelined answers would stall.
pub fn tcp(stream: TcpStream) -> std::io::Result<(Box<dyn Io>, ConnInfo)> {
    stream.set_nodelay(true)?;
    let info = ConnInfo::new(stream.peer_addr()?, stream.local_addr()?);
    Ok((Box::new(stream), info))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replaces the end-to-end test that could no longer fail: every response now leaves in
    /// one write, so Nagle's delay never showed over loopback. This asks the socket itself.
    #[actix_rt::test]
    async fn accepted_tcp_streams_have_nodelay_set() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        assert!(!server.nodelay().unwrap(), "the default is Nagle on");
        // Keep a handle on the socket to ask it after `tcp` has boxed it.
        let fd = std::os::fd::AsFd::as_fd(&server)
            .try_clone_to_owned()
            .unwrap();
        let probe = socket2::Socket::from(fd);
        let (_io, info) = tcp(server).unwrap();
        assert!(probe.nodelay().unwrap(), "tcp() must set TCP_NODELAY");
        assert_eq!(info.local_addr(), addr);
        assert_eq!(info.peer_addr(), client.local_addr().unwrap());
        assert!(!info.is_secure());
    }
}
