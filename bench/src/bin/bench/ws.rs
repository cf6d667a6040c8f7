//! The WebSocket echo workload's client: `conns` blocking connections, one thread each (on
//! the load generator's CPU), each sending a masked binary message and waiting for its echo,
//! back to back, for the measured duration. Frames are written by hand (RFC 6455 §5.2): the
//! client side is a few lines and keeps another codec out of the measurement.
//!
//! Also the idle-WebSocket workload's client: many sockets handshaken from one thread, then
//! left silent, for the server's memory per idle socket.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::server::Running;
use crate::sys;
use crate::workloads::{quantile_ms, settle, with_cpu, Params};

/// Open a WebSocket to `/ws` on `addr`.
fn open(addr: SocketAddr) -> io::Result<(TcpStream, BufReader<TcpStream>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 101") {
        return Err(io::Error::other(format!("/ws answered {line:?}")));
    }
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            return Ok((s, r));
        }
    }
}

/// A masked binary frame (a client's frames must be masked, §5.3); `len` < 126.
fn frame(payload: &[u8]) -> Vec<u8> {
    let key = [0x5a, 0x17, 0xc3, 0x08];
    let mut out = vec![0x82, 0x80 | payload.len() as u8];
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// Read one unmasked server frame of `len` < 126 bytes, skipping control frames.
fn read_echo(r: &mut impl Read, len: usize) -> io::Result<()> {
    loop {
        let mut h = [0u8; 2];
        r.read_exact(&mut h)?;
        let n = (h[1] & 0x7f) as usize;
        if n >= 126 {
            return Err(io::Error::other("unexpectedly long frame"));
        }
        let mut payload = [0u8; 125];
        r.read_exact(&mut payload[..n])?;
        match h[0] & 0x0f {
            0x2 if n == len => return Ok(()),
            0x2 => return Err(io::Error::other(format!("echo of {n} bytes, sent {len}"))),
            0x8 => return Err(io::Error::other("server closed the socket")),
            _ => continue,
        }
    }
}

/// Round trips per second, p99 latency and server CPU per round trip.
pub fn echo(
    server: &Running,
    p: &Params,
    conns: usize,
    size: usize,
) -> io::Result<Vec<(&'static str, f64)>> {
    assert!(size < 126, "one-byte lengths only");
    let mut sockets = Vec::with_capacity(conns);
    for _ in 0..conns {
        sockets.push(open(server.addr)?);
    }
    let start = Arc::new(Barrier::new(conns + 1));
    let duration = p.duration;
    let cpu = p.client_cpu;
    let ((trips, lat, elapsed), server_cpu) = with_cpu(server.pid, || {
        let threads: Vec<_> = sockets
            .into_iter()
            .map(|(mut w, mut r)| {
                let start = Arc::clone(&start);
                std::thread::spawn(move || -> io::Result<Vec<Duration>> {
                    if let Some(c) = cpu {
                        sys::pin_self(c)?;
                    }
                    let msg = frame(&vec![b'x'; size]);
                    let mut lat = Vec::new();
                    start.wait();
                    let t0 = Instant::now();
                    while t0.elapsed() < duration {
                        let t = Instant::now();
                        w.write_all(&msg)?;
                        read_echo(&mut r, size)?;
                        lat.push(t.elapsed());
                    }
                    Ok(lat)
                })
            })
            .collect();
        start.wait();
        let t0 = Instant::now();
        let mut all = Vec::new();
        for t in threads {
            all.extend(
                t.join()
                    .map_err(|_| io::Error::other("client thread panicked"))??,
            );
        }
        Ok((all.len(), all, t0.elapsed()))
    })?;
    let mut lat = lat;
    Ok(vec![
        ("ws-echo.rtps", trips as f64 / elapsed.as_secs_f64()),
        (
            "ws-echo.cpu_us",
            server_cpu.as_secs_f64() * 1e6 / trips.max(1) as f64,
        ),
        ("ws-echo.p99_ms", quantile_ms(&mut lat, 0.99)),
    ])
}

/// The handshake request every idle socket sends.
const HANDSHAKE: &[u8] =
    b"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// Open a WebSocket to `/ws` and read the 101 head with a small stack buffer (no per-socket
/// buffer stays allocated on the client side: 10,000 of them must fit).
fn open_idle(addr: SocketAddr) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(HANDSHAKE)?;
    let mut head = [0u8; 1024];
    let mut n = 0;
    // Read up to the head's end; the server sends nothing after it until the client does.
    while !head[..n].ends_with(b"\r\n\r\n") {
        if n == head.len() {
            return Err(io::Error::other("101 head too large"));
        }
        let got = s.read(&mut head[n..])?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        n += got;
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        let line = String::from_utf8_lossy(&head[..n]);
        return Err(io::Error::other(format!(
            "/ws answered {:?}",
            line.lines().next().unwrap_or("")
        )));
    }
    Ok(s)
}

/// Whether the server has sent anything on `s` (or closed it), without blocking.
fn has_input(s: &TcpStream) -> io::Result<bool> {
    s.set_nonblocking(true)?;
    let res = s.peek(&mut [0u8; 1]);
    s.set_nonblocking(false)?;
    match res {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// `p.idle_conns` WebSockets on `/ws`, each handshaken and then silent: the server's RSS
/// growth per socket, taken exactly as the long-poll workload takes it (VmRSS once the
/// server's CPU time stops moving, before and after).
pub fn idle(server: &Running, p: &Params) -> io::Result<Vec<(&'static str, f64)>> {
    settle(server.pid)?;
    let before = sys::vm_rss(server.pid)?;
    let mut sockets = Vec::with_capacity(p.idle_conns);
    for i in 0..p.idle_conns {
        sockets.push(open_idle(server.addr)?);
        // As in long-poll: let the acceptor keep up.
        if i % 500 == 499 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    settle(server.pid)?;
    let after = sys::vm_rss(server.pid)?;
    // Every socket must still be open and quiet: a sample has nothing to read.
    let step = (sockets.len() / 100).max(1);
    for s in sockets.iter().step_by(step) {
        if has_input(s)? {
            return Err(io::Error::other(
                "an idle WebSocket got a frame (or was closed) while it should be quiet",
            ));
        }
    }
    drop(sockets);
    let per_conn = after.saturating_sub(before) as f64 / p.idle_conns as f64;
    Ok(vec![("ws-idle.rss_per_conn", per_conn)])
}
