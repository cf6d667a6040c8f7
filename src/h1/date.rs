//! The `Date` header value (RFC 9110 §6.6.1), cached per thread.
//!
//! Every response carries a Date, and formatting one per response is measurable work for a
//! value that changes once a second. Each thread keeps the last rendering and re-renders only
//! when the second changes, so the hot path is one clock read and a 29-byte copy.

use std::cell::Cell;
use std::fmt::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

thread_local! {
    /// (the Unix second it was rendered for, the rendering).
    static CACHE: Cell<(u64, [u8; DATE_LEN])> = const { Cell::new((u64::MAX, [0; DATE_LEN])) };
}

/// Current time as an IMF-fixdate (RFC 9110 §5.6.7), 29 bytes, cached per thread and refreshed
/// at most once per second. Allocation-free.
pub fn now() -> [u8; DATE_LEN] {
    // A clock set before 1970 would make httpdate panic; the epoch is a better answer than that.
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = since_epoch.as_secs();
    CACHE.with(|cache| {
        let (cached_secs, cached) = cache.get();
        if cached_secs == secs {
            return cached;
        }
        let fresh = render(UNIX_EPOCH + Duration::from_secs(secs));
        cache.set((secs, fresh));
        fresh
    })
}

/// Format `t` as an IMF-fixdate into a fixed buffer, without allocating.
fn render(t: SystemTime) -> [u8; DATE_LEN] {
    let mut out = FixedBuf {
        buf: [0; DATE_LEN],
        len: 0,
    };
    // httpdate always writes exactly 29 ASCII bytes for years 1970..=9999; a clock past that is
    // not worth a panic, so the error (buffer full) is ignored and the prefix kept.
    let _ = write!(out, "{}", httpdate::HttpDate::from(t));
    out.buf
}

/// A `fmt::Write` sink over a fixed array.
struct FixedBuf {
    buf: [u8; DATE_LEN],
    len: usize,
}

impl Write for FixedBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_imf_fixdate() {
        // The example from RFC 9110 §5.6.7.
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(&render(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn now_is_current_and_parses_back() {
        let date = now();
        let text = std::str::from_utf8(&date).unwrap();
        assert!(text.ends_with(" GMT"), "{text}");
        let parsed = httpdate::parse_http_date(text).unwrap();
        let skew = SystemTime::now()
            .duration_since(parsed)
            .unwrap_or_else(|e| e.duration());
        assert!(skew < Duration::from_secs(3), "{text}");
        // Cached: same second, same bytes (allowing for a second boundary in between).
        let again = now();
        assert!(
            again == date
                || httpdate::parse_http_date(std::str::from_utf8(&again).unwrap()).unwrap()
                    > parsed
        );
    }
}
