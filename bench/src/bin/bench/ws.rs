//! The WebSocket echo workload's client: `conns` blocking connections, one thread each (on
//! the load generator's CPU), each sending a masked binary message and waiting for its echo,
//! back to back, for the measured duration. Frames are written by hand (RFC 6455 §5.2): the
//! client side is a few lines and keeps another codec out of the measurement.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::server::Running;
use crate::sys;
use crate::workloads::{quantile_ms, with_cpu, Params};

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
