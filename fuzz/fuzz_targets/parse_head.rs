//! Fuzz `weir::h1::parse_head`: it must never panic, must leave the buffer untouched unless it
//! returns a head, must only ever consume a prefix, and must map every error to a status of
//! its documented set. A proper prefix of a valid head must be "incomplete", never an error or
//! a different head.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use weir::h1::{parse_head, BodyFraming};
use weir::limits::Limits;

fuzz_target!(|data: &[u8]| {
    // Small limits, so the fuzzer reaches the limit edges quickly.
    let limits = Limits {
        max_head_bytes: 2048,
        max_headers: 16,
        ..Limits::default()
    };

    let mut buf = BytesMut::from(data);
    match parse_head(&mut buf, &limits) {
        Ok(Some(head)) => {
            let consumed = data.len() - buf.len();
            assert!(consumed > 0 && consumed <= limits.max_head_bytes);
            assert_eq!(&buf[..], &data[consumed..], "only a prefix is consumed");
            assert!(head.version == http::Version::HTTP_10 || head.version == http::Version::HTTP_11);
            assert!(head.headers.len() <= limits.max_headers);
            if head.framing == BodyFraming::Chunked {
                assert_eq!(head.version, http::Version::HTTP_11);
            }
            // Every proper prefix of the head is incomplete.
            for end in [0, consumed / 2, consumed - 1] {
                let mut prefix = BytesMut::from(&data[..end]);
                assert!(matches!(parse_head(&mut prefix, &limits), Ok(None)), "prefix {end}");
                assert_eq!(&prefix[..], &data[..end]);
            }
        }
        Ok(None) => {
            assert_eq!(&buf[..], data);
            assert!(data.len() <= limits.max_head_bytes);
        }
        Err(err) => {
            assert_eq!(&buf[..], data, "untouched on error");
            assert!(matches!(err.status().as_u16(), 400 | 413 | 431 | 501 | 505));
            assert!(!err.reason().is_empty());
        }
    }
});
