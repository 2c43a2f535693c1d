//! Incremental, fail-fast UTF-8 validation (RFC 6455 §8.1, §5.6).
//!
//! A text message may be split across frames and a frame across reads; a code point may be split anywhere.
//! [`Utf8Validator`] checks bytes as they arrive and reports invalid input at the first byte that can no
//! longer begin or continue a valid sequence — it never waits for the end of the frame or message. This is
//! what Autobahn cases 6.4.x check ("fail fast").

use core::str;

/// Why a byte stream is not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error {
    /// Offset, from the start of the stream, of the first byte of the invalid sequence.
    pub valid_up_to: u64,
}

/// An incremental UTF-8 validator. Feed it chunks in order; call [`finish`](Self::finish) at the end.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    /// An incomplete (but so far valid) code point carried over from the previous chunk.
    partial: [u8; 4],
    partial_len: u8,
    /// Bytes accepted so far (complete code points only).
    done: u64,
}

impl Utf8Validator {
    /// A validator at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an incomplete code point is pending.
    pub fn is_partial(&self) -> bool {
        self.partial_len != 0
    }

    /// Validates the next chunk. On error the stream is invalid whatever follows.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), Utf8Error> {
        if self.partial_len != 0 {
            let have = self.partial_len as usize;
            let take = (4 - have).min(input.len());
            let mut tmp = self.partial;
            tmp[have..have + take].copy_from_slice(&input[..take]);
            match str::from_utf8(&tmp[..have + take]) {
                Ok(_) => {
                    // The carried code point completed, and any further bytes taken were complete too.
                    self.done += (have + take) as u64;
                    self.partial_len = 0;
                    input = &input[take..];
                }
                Err(e) if e.valid_up_to() > 0 => {
                    // The carried code point completed within the first valid_up_to bytes.
                    let used = e.valid_up_to() - have;
                    self.done += e.valid_up_to() as u64;
                    self.partial_len = 0;
                    input = &input[used..];
                }
                Err(e) if e.error_len().is_some() => {
                    return Err(Utf8Error { valid_up_to: self.done });
                }
                Err(_) => {
                    // Still incomplete: everything given was consumed into the carry.
                    self.partial = tmp;
                    self.partial_len = (have + take) as u8;
                    return Ok(());
                }
            }
        }
        match str::from_utf8(input) {
            Ok(_) => {
                self.done += input.len() as u64;
                Ok(())
            }
            Err(e) => {
                let valid = e.valid_up_to();
                if e.error_len().is_some() {
                    return Err(Utf8Error { valid_up_to: self.done + valid as u64 });
                }
                // An incomplete code point at the end: std only reports this when the tail is a valid prefix.
                let tail = &input[valid..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                self.done += valid as u64;
                Ok(())
            }
        }
    }

    /// Accepts `n` bytes the caller knows are ASCII (e.g. checked while unmasking them,
    /// [`apply_mask_ascii`](crate::mask::apply_mask_ascii)) without looking at them again: the same as
    /// [`feed`](Self::feed) on them, when no code point is pending. With one pending, use `feed`.
    pub(crate) fn feed_ascii(&mut self, n: usize) {
        debug_assert!(!self.is_partial());
        self.done += n as u64;
    }

    /// Ends the stream: an incomplete code point left over is an error.
    pub fn finish(&self) -> Result<(), Utf8Error> {
        if self.partial_len != 0 {
            Err(Utf8Error { valid_up_to: self.done })
        } else {
            Ok(())
        }
    }

    /// Ready for a new stream.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// A whole message as text: [`Utf8Validator`]'s verdict on `bytes` in one piece, without a second pass when
/// the caller already knows they are ASCII (checked while unmasking them).
#[inline]
pub(crate) fn validate_whole(bytes: &[u8], known_ascii: bool) -> Result<&str, Utf8Error> {
    if known_ascii {
        return Ok(ascii_str(bytes));
    }
    str::from_utf8(bytes).map_err(|e| Utf8Error { valid_up_to: e.valid_up_to() as u64 })
}

/// Bytes known to be ASCII (checked by the caller while unmasking them) as text, without a second pass.
#[inline]
fn ascii_str(bytes: &[u8]) -> &str {
    debug_assert!(bytes.is_ascii());
    if cfg!(debug_assertions) {
        return str::from_utf8(bytes).expect("the caller checked that the bytes are ASCII");
    }
    #[allow(unsafe_code)]
    // SAFETY: every caller passes bytes it has just checked to be ASCII (`apply_mask_ascii` returned true for
    // exactly these bytes, and nothing wrote them since), and ASCII is valid UTF-8.
    unsafe {
        str::from_utf8_unchecked(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_chunked(data: &[u8], splits: &[usize]) -> Result<(), Utf8Error> {
        let mut v = Utf8Validator::new();
        let mut at = 0;
        for &s in splits {
            let end = (at + s).min(data.len());
            v.feed(&data[at..end])?;
            at = end;
        }
        v.feed(&data[at..])?;
        v.finish()
    }

    #[test]
    fn fails_fast_on_invalid_continuation_mid_stream() {
        let mut v = Utf8Validator::new();
        v.feed("κόσμε".as_bytes()).unwrap();
        // 0xF4 0x90 can never start a valid sequence (above U+10FFFF): reported at once.
        assert_eq!(v.feed(&[0xf4]), Ok(()));
        assert_eq!(v.feed(&[0x90]), Err(Utf8Error { valid_up_to: 10 }));
    }

    #[test]
    fn surrogate_rejected_before_its_last_byte() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[0xed]), Ok(()));
        assert!(v.feed(&[0xa0]).is_err());
    }

    #[test]
    fn incomplete_at_end_is_error_on_finish() {
        let mut v = Utf8Validator::new();
        v.feed(&[b'a', 0xe2, 0x82]).unwrap();
        assert!(v.is_partial());
        assert_eq!(v.finish(), Err(Utf8Error { valid_up_to: 1 }));
        v.feed(&[0xac]).unwrap();
        assert_eq!(v.finish(), Ok(()));
    }

    proptest! {
        #[test]
        fn agrees_with_std(data in proptest::collection::vec(any::<u8>(), 0..64),
                           splits in proptest::collection::vec(0usize..8, 0..10)) {
            let ours = check_chunked(&data, &splits);
            match str::from_utf8(&data) {
                Ok(_) => prop_assert_eq!(ours, Ok(())),
                Err(e) => prop_assert_eq!(ours, Err(Utf8Error { valid_up_to: e.valid_up_to() as u64 })),
            }
        }

        #[test]
        fn agrees_with_std_on_mostly_valid_text(s in "\\PC{0,40}", cut in 0usize..200, bad in any::<u8>(),
                                               splits in proptest::collection::vec(0usize..6, 0..10)) {
            let mut data = s.into_bytes();
            let cut = cut.min(data.len());
            data.insert(cut, bad);
            let ours = check_chunked(&data, &splits);
            match str::from_utf8(&data) {
                Ok(_) => prop_assert_eq!(ours, Ok(())),
                Err(e) => prop_assert_eq!(ours, Err(Utf8Error { valid_up_to: e.valid_up_to() as u64 })),
            }
        }
    }
}
