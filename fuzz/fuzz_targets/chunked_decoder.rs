//! Fuzz `weir::h1::BodyDecoder` on chunked framing: it must never panic, must never hand out
//! empty data or more bytes than it was given, must report `Incomplete` only with an empty
//! buffer, and must reach the same outcome (body, error, leftover bytes) whether the input
//! arrives whole or split into pieces.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use weir::h1::{BodyDecoder, BodyFraming, Decoded, ParseError};
use weir::limits::Limits;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the piece size for the split run.
    let Some((&seed, wire)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_body_bytes: 1 << 16,
        max_chunk_ext_bytes: 64,
        max_trailer_bytes: 256,
        ..Limits::default()
    };
    let whole = run(&limits, &[wire]);
    let pieces: Vec<&[u8]> = wire.chunks(usize::from(seed).max(1)).collect();
    let split = run(&limits, &pieces);
    assert_eq!(whole, split, "outcome depends on how the input was split");
    let (body, outcome) = whole;
    assert!(body.len() <= wire.len());
    if let Ok(Some(left)) = outcome {
        assert!(wire.ends_with(&left), "leftover is the unread suffix");
    }
});

/// (body, Ok(Some(leftover)) at End, Ok(None) if the input ran out first, or the error).
type Outcome = (Vec<u8>, Result<Option<Vec<u8>>, ParseError>);

fn run(limits: &Limits, pieces: &[&[u8]]) -> Outcome {
    let mut dec = BodyDecoder::new(BodyFraming::Chunked, limits);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut pieces = pieces.iter();
    loop {
        match dec.decode(&mut buf) {
            Ok(Decoded::Data(data)) => {
                assert!(!data.is_empty());
                body.extend_from_slice(&data);
                assert_eq!(dec.body_bytes(), body.len() as u64);
                assert!(dec.body_bytes() <= limits.max_body_bytes);
            }
            Ok(Decoded::Incomplete) => {
                assert!(buf.is_empty());
                match pieces.next() {
                    Some(piece) => buf.extend_from_slice(piece),
                    None => return (body, Ok(None)),
                }
            }
            Ok(Decoded::End) => {
                assert!(dec.is_end());
                assert_eq!(dec.decode(&mut buf), Ok(Decoded::End));
                for piece in pieces {
                    buf.extend_from_slice(piece);
                }
                return (body, Ok(Some(buf.to_vec())));
            }
            Err(err) => {
                assert_eq!(dec.decode(&mut buf), Err(err), "errors are sticky");
                return (body, Err(err));
            }
        }
    }
}
