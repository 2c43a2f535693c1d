//! The receive buffer and its layout: `[held][skip][unparsed…]`.
//!
//! - **held**: the payload of the uncompressed message being reassembled in place (unmasked, validated), at the
//!   front. It is bounded by `max_message_size` and not counted against `max_buffered`.
//! - **skip**: stale bytes after it, the headers of its continuation frames and control frames that arrived in
//!   between. They count against `max_buffered` and are compacted away (see [`RecvBuf::consume`] and
//!   [`RecvBuf::make_room`]). `skip` is zero whenever `held` is.
//! - **unparsed**: bytes fed and not yet parsed, starting at `held + skip` (the *base*).
//!
//! A message that is not held in place always starts at the front, so outside reassembly the base is 0 and
//! every operation is a plain split or advance of the `BytesMut`.

use bytes::{Buf, BufMut, Bytes, BytesMut};

#[derive(Debug, Default)]
pub(crate) struct RecvBuf {
    buf: BytesMut,
    held: usize,
    skip: usize,
}

impl RecvBuf {
    /// Bytes that count against `max_buffered`: everything but the held payload.
    #[inline]
    pub(crate) fn counted_len(&self) -> usize {
        self.buf.len() - self.held
    }

    /// All bytes, the held payload included (for memory accounting).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Bytes of memory held, in use or not.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends fed bytes.
    #[inline]
    pub(crate) fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Makes room for `n` more bytes.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.buf.reserve(n);
    }

    /// `n` bytes of room at the end, for reading straight into.
    pub(crate) fn spare(&mut self, n: usize) -> bytes::buf::Limit<&mut BytesMut> {
        self.buf.reserve(n);
        (&mut self.buf).limit(n)
    }

    /// Frees the memory if no byte is buffered.
    pub(crate) fn release_if_empty(&mut self) {
        if self.buf.is_empty() {
            self.clear();
        }
    }

    /// Drops every byte and frees the memory.
    pub(crate) fn clear(&mut self) {
        *self = RecvBuf::default();
    }

    #[inline]
    fn base(&self) -> usize {
        self.held + self.skip
    }

    /// Bytes not yet parsed.
    #[inline]
    pub(crate) fn unparsed(&self) -> &[u8] {
        &self.buf[self.base()..]
    }

    /// Bytes not yet parsed, to unmask in place.
    #[inline]
    pub(crate) fn unparsed_mut(&mut self) -> &mut [u8] {
        let base = self.base();
        &mut self.buf[base..]
    }

    /// The first `n` unparsed bytes are used up (a header, or a payload copied out). Outside reassembly they
    /// are dropped; during it they become stale, compacted once they outnumber the held bytes, so that the
    /// copying is paid for by the stale bytes that arrived since the last compaction.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.buf.len() - self.base());
        if self.base() == 0 {
            self.buf.advance(n);
            return;
        }
        self.skip += n;
        if self.skip > self.held {
            self.compact();
        }
    }

    /// The first `n` unparsed bytes, as a buffer of their own (split off without copying outside
    /// reassembly, copied out during it).
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> BytesMut {
        if self.base() == 0 {
            return self.buf.split_to(n);
        }
        let base = self.base();
        let out = BytesMut::from(&self.buf[base..base + n]);
        self.consume(n);
        out
    }

    /// Bytes of the message reassembled so far.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// The first `n` unparsed bytes (an unmasked, validated payload) join the held message. Whichever moves
    /// fewer bytes: the held bytes over the stale ones, or the payload back over them.
    #[inline]
    pub(crate) fn hold(&mut self, n: usize) {
        if self.skip > 0 {
            if self.held <= n {
                self.compact();
            } else {
                let base = self.base();
                self.buf.copy_within(base..base + n, self.held);
            }
        }
        self.held += n;
    }

    /// The whole reassembled message; the stale bytes after it are dropped.
    #[inline]
    pub(crate) fn take_held(&mut self) -> Bytes {
        let payload = self.buf.split_to(self.held).freeze();
        if self.skip > 0 {
            self.buf.advance(self.skip);
        }
        self.held = 0;
        self.skip = 0;
        payload
    }

    /// Before waiting for input: the stale bytes count against `max_buffered`, so when they would keep the
    /// `need` bytes the parser waits for from fitting, compact. Each such compaction costs at most `held`
    /// (≤ `max_message_size`) and is paid for by at least `max_buffered / 2 - 14` bytes of input.
    pub(crate) fn make_room(&mut self, need: usize, max_buffered: usize) {
        if self.skip > 0 && self.skip.saturating_add(need) > max_buffered {
            self.compact();
        }
    }

    /// Moves the held payload over the stale bytes (`skip` becomes 0).
    fn compact(&mut self) {
        if self.skip > 0 {
            self.buf.copy_within(0..self.held, self.skip);
            self.buf.advance(self.skip);
            self.skip = 0;
        }
    }

    /// The buffer itself, for the in-place path, which runs only while no message is held.
    #[inline]
    pub(crate) fn whole_mut(&mut self) -> &mut BytesMut {
        debug_assert_eq!(self.base(), 0);
        &mut self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(bytes: &[u8]) -> RecvBuf {
        let mut b = RecvBuf::default();
        b.extend(bytes);
        b
    }

    #[test]
    fn outside_reassembly_consume_and_take_split_the_front() {
        let mut b = filled(b"hhPAYLOADrest");
        b.consume(2);
        assert_eq!(b.unparsed(), b"PAYLOADrest");
        assert_eq!(&b.take(7)[..], b"PAYLOAD");
        assert_eq!(b.unparsed(), b"rest");
        assert_eq!((b.held(), b.counted_len()), (0, 4));
    }

    #[test]
    fn reassembly_holds_payloads_and_skips_headers() {
        // Frames "aaaa" (header "H1"), then continuation "bb" (header "H2"), then "cc" (header "H3").
        let mut b = filled(b"aaaaH2bbH3cc");
        b.hold(4);
        assert_eq!((b.held(), b.counted_len()), (4, 8));
        b.consume(2); // H2: stale, fewer than held
        assert_eq!(b.unparsed(), b"bbH3cc");
        b.hold(2); // moved back over the stale header
        assert_eq!(b.held(), 6);
        b.consume(2); // H3
        b.hold(2);
        assert_eq!(&b.take_held()[..], b"aaaabbcc");
        assert_eq!((b.held(), b.len()), (0, 0));
    }

    #[test]
    fn stale_bytes_are_compacted_once_they_outnumber_the_held_ones() {
        let mut b = filled(b"ab0123456789xyz");
        b.hold(2);
        b.consume(2);
        assert_eq!(b.len(), 15, "two stale bytes, not more than held: kept");
        b.consume(1);
        assert_eq!(b.len(), 12, "three stale bytes: compacted");
        assert_eq!(b.unparsed(), b"3456789xyz");
        assert_eq!(&b.buf[..2], b"ab");
    }

    #[test]
    fn take_during_reassembly_copies_and_keeps_the_held_bytes() {
        let mut b = filled(b"heldPINGmore");
        b.hold(4);
        let ping = b.take(4);
        assert_eq!(&ping[..], b"PING");
        assert_eq!(b.unparsed(), b"more");
        assert_eq!(b.held(), 4);
        b.hold(4);
        assert_eq!(&b.take_held()[..], b"heldmore");
    }

    #[test]
    fn make_room_compacts_only_when_the_awaited_bytes_would_not_fit() {
        let mut b = filled(b"0123456789ab");
        b.hold(10);
        b.consume(1);
        b.make_room(5, 100);
        assert_eq!(b.len(), 12, "fits: no compaction");
        b.make_room(100, 100);
        assert_eq!(b.len(), 11, "the stale byte would keep 100 awaited bytes from fitting");
        assert_eq!(b.counted_len(), 1);
    }

    #[test]
    fn release_frees_only_an_empty_buffer() {
        let mut b = filled(&[0; 4096]);
        b.release_if_empty();
        assert!(b.capacity() >= 4096);
        b.consume(4096);
        b.release_if_empty();
        assert_eq!(b.capacity(), 0);
    }

    #[test]
    fn spare_room_counts_as_fed() {
        let mut b = RecvBuf::default();
        b.spare(3).put_slice(b"abc");
        assert_eq!(b.unparsed(), b"abc");
    }
}
