//! A small blocking HTTP/1.1 client: what the driver's own workloads (uploads, streaming,
//! latency probes, idle connections) send with. One `Conn` per keep-alive connection; it
//! writes requests from static buffers and reads responses (Content-Length, chunked or
//! close-delimited), keeping at most a few KiB of each body.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// Response bodies up to this size are kept (to check them); larger ones are only counted.
const KEEP_BODY: usize = 4096;
/// Read buffer: large, so a 1 MiB download takes few syscalls.
const READ_BUF: usize = 256 * 1024;
/// How long a read or write may block before the workload fails.
const IO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// One response, its body counted and (if small) kept.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body bytes received.
    pub body_len: u64,
    /// The body, if at most `KEEP_BODY` bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// The kept body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How the response body is delimited.
enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// A keep-alive connection to one server.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl Conn {
    /// Connect, with `TCP_NODELAY`.
    pub fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        // A server that stops reading or answering fails the run instead of hanging it.
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Conn {
            stream,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
        })
    }

    /// Write all of `data`.
    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.stream.write_all(data)
    }

    /// Send `data` as a complete request and read its response.
    pub fn request(&mut self, data: &[u8]) -> io::Result<Response> {
        self.send(data)?;
        self.read_response()
    }

    /// Read more bytes into the buffer (compacting it first); `Ok(0)` at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(bad("response line or head too large"));
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Read one response.
    pub fn read_response(&mut self) -> io::Result<Response> {
        let (status, framing) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut res = httparse::Response::new(&mut headers);
            match res.parse(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = res.code.unwrap_or(0);
                    let framing = framing(status, res.headers)?;
                    self.start += n;
                    break (status, framing);
                }
                Ok(httparse::Status::Partial) => {
                    if self.end - self.start > MAX_HEAD {
                        return Err(bad("response head too large"));
                    }
                    if self.fill()? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(bad(format!("bad response head: {e}"))),
            }
        };
        if (100..200).contains(&status) {
            return self.read_response();
        }
        let mut out = Response {
            status,
            body_len: 0,
            body: Vec::new(),
        };
        match framing {
            Framing::None => {}
            Framing::Length(n) => self.body_bytes(n, &mut out, false)?,
            Framing::Close => self.body_bytes(u64::MAX, &mut out, true)?,
            Framing::Chunked => loop {
                let line = self.line()?;
                let hex = line.split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(hex, 16)
                    .map_err(|_| bad(format!("bad chunk size line {line:?}")))?;
                if size == 0 {
                    // Trailers, then the empty line.
                    while !self.line()?.is_empty() {}
                    break;
                }
                self.body_bytes(size, &mut out, false)?;
                if !self.line()?.is_empty() {
                    return Err(bad("chunk not followed by CRLF"));
                }
            },
        }
        Ok(out)
    }

    /// Consume `n` body bytes (or up to EOF if `to_eof`), counting them into `out`.
    fn body_bytes(&mut self, mut n: u64, out: &mut Response, to_eof: bool) -> io::Result<()> {
        while n > 0 {
            if self.start == self.end && self.fill()? == 0 {
                if to_eof {
                    return Ok(());
                }
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let take = (self.end - self.start).min(usize::try_from(n).unwrap_or(usize::MAX));
            let data = &self.buf[self.start..self.start + take];
            if out.body.len() + take <= KEEP_BODY {
                out.body.extend_from_slice(data);
            }
            out.body_len += take as u64;
            self.start += take;
            n -= take as u64;
        }
        Ok(())
    }

    /// One CRLF-terminated line, without the CRLF.
    fn line(&mut self) -> io::Result<String> {
        loop {
            let unread = &self.buf[self.start..self.end];
            if let Some(i) = unread.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&unread[..i]).into_owned();
                self.start += i + 2;
                return Ok(line);
            }
            if self.end - self.start > 4096 {
                return Err(bad("chunk line too long"));
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Whether the server has sent anything (or closed) without blocking: for checking that
    /// a held request is still unanswered.
    pub fn has_input(&mut self) -> io::Result<bool> {
        if self.start < self.end {
            return Ok(true);
        }
        self.stream.set_nonblocking(true)?;
        let mut byte = [0u8; 1];
        let res = self.stream.peek(&mut byte);
        self.stream.set_nonblocking(false)?;
        match res {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn framing(status: u16, headers: &[httparse::Header<'_>]) -> io::Result<Framing> {
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(Framing::None);
    }
    let mut framing = Framing::Close;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if std::str::from_utf8(h.value)
                .is_ok_and(|v| v.to_ascii_lowercase().contains("chunked"))
            {
                return Ok(Framing::Chunked);
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| bad("bad content-length"))?;
            framing = Framing::Length(n);
        }
    }
    Ok(framing)
}

/// A request head for `method path` with `extra` header lines (each ending in CRLF).
pub fn head(method: &str, path: &str, extra: &str) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nhost: bench\r\n{extra}\r\n").into_bytes()
}

/// Upload `total` bytes to `path` on `conn` as one request, Content-Length or chunked
/// (64 KiB chunks), writing from a 256 KiB static buffer; returns the response.
pub fn upload(conn: &mut Conn, path: &str, total: u64, chunked: bool) -> io::Result<Response> {
    const CHUNK: usize = 64 * 1024;
    const PER_WRITE: usize = 4;
    let data = vec![b'x'; CHUNK * PER_WRITE];
    if chunked {
        conn.send(&head("POST", path, "transfer-encoding: chunked\r\n"))?;
        // Four framed chunks per write; the last write carries what is left and the end.
        let mut framed = Vec::with_capacity(data.len() + 64);
        for _ in 0..PER_WRITE {
            framed.extend_from_slice(format!("{CHUNK:x}\r\n").as_bytes());
            framed.extend_from_slice(&data[..CHUNK]);
            framed.extend_from_slice(b"\r\n");
        }
        let mut left = total;
        while left >= (CHUNK * PER_WRITE) as u64 {
            conn.send(&framed)?;
            left -= (CHUNK * PER_WRITE) as u64;
        }
        let mut tail = Vec::new();
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            tail.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            tail.extend_from_slice(&data[..n]);
            tail.extend_from_slice(b"\r\n");
            left -= n as u64;
        }
        tail.extend_from_slice(b"0\r\n\r\n");
        conn.send(&tail)?;
    } else {
        conn.send(&head("POST", path, &format!("content-length: {total}\r\n")))?;
        let mut left = total;
        while left > 0 {
            let n = left.min(data.len() as u64) as usize;
            conn.send(&data[..n])?;
            left -= n as u64;
        }
    }
    conn.read_response()
}
