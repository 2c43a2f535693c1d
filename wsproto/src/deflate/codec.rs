//! The permessage-deflate codec (RFC 7692 §7.2): compresses our messages and inflates the peer's, with the
//! window and context-takeover parameters that [`negotiate`](super::negotiate) agreed.

#[allow(unused_imports)]
use crate::prelude::*;

#[cfg(feature = "deflate")]
use core::fmt;

#[cfg(feature = "deflate")]
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

#[cfg(feature = "deflate")]
use super::negotiate::{DeflateConfig, DeflateParams};

#[cfg(feature = "deflate")]
/// The bytes every sync-flushed deflate block ends with, removed from each message (RFC 7692 §7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Per-thread pools of compressors and decompressors at their initial state, by parameters. A codec that
/// starts afresh for every message (no context takeover, RFC 7692 §7.1.1) is taken from the pool when a
/// message begins and given back when it ends: an idle connection holds none (one costs up to ~300 KiB), and the
/// next message on the thread, whichever connection's, reuses it instead of allocating and initialising one.
#[cfg(feature = "deflate")]
mod pool {
    use core::cell::RefCell;

    use flate2::{Compress, Compression, Decompress};

    use crate::prelude::*;

    /// Codecs kept per thread, per kind: enough for the messages a thread works on at once, bounded.
    const KEEP: usize = 16;

    std::thread_local! {
        static COMPRESSORS: RefCell<Vec<((u32, u8), Compress)>> = const { RefCell::new(Vec::new()) };
        static DECOMPRESSORS: RefCell<Vec<(u8, Decompress)>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn compressor(level: u32, bits: u8) -> Compress {
        let pooled = COMPRESSORS.with(|p| {
            let mut p = p.borrow_mut();
            let i = p.iter().rposition(|(k, _)| *k == (level, bits))?;
            Some(p.swap_remove(i).1)
        });
        pooled.unwrap_or_else(|| Compress::new_with_window_bits(Compression::new(level), false, bits))
    }

    pub(super) fn give_compressor(level: u32, bits: u8, mut c: Compress) {
        c.reset();
        COMPRESSORS.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < KEEP {
                p.push(((level, bits), c));
            }
        });
    }

    pub(super) fn decompressor(bits: u8) -> Decompress {
        let pooled = DECOMPRESSORS.with(|p| {
            let mut p = p.borrow_mut();
            let i = p.iter().rposition(|(k, _)| *k == bits)?;
            Some(p.swap_remove(i).1)
        });
        pooled.unwrap_or_else(|| Decompress::new_with_window_bits(false, bits))
    }

    pub(super) fn give_decompressor(bits: u8, mut d: Decompress) {
        d.reset(false);
        DECOMPRESSORS.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < KEEP {
                p.push((bits, d));
            }
        });
    }
}

/// The peer's compressed data could not be inflated.
#[derive(Debug)]
pub(crate) enum InflateError {
    /// Not a valid deflate stream (→ 1007).
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    Corrupt,
}

/// The per-connection codec: our compressor and the peer's decompressor, created on first use.
#[cfg(feature = "deflate")]
pub(crate) struct Codec {
    level: u32,
    threshold: usize,
    send_bits: u8,
    send_reset: bool,
    recv_bits: u8,
    recv_reset: bool,
    compressor: Option<Compress>,
    decompressor: Option<Decompress>,
    /// The peer ended its deflate stream (a block with BFINAL set) inside the current message: the rest of
    /// the message is ignored and the decompressor starts afresh with the next (RFC 7692 §7.2.3.4).
    stream_ended: bool,
    scratch: Vec<u8>,
}

#[cfg(feature = "deflate")]
impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codec")
            .field("send_bits", &self.send_bits)
            .field("send_reset", &self.send_reset)
            .field("recv_bits", &self.recv_bits)
            .field("recv_reset", &self.recv_reset)
            .finish()
    }
}

#[cfg(feature = "deflate")]
impl Codec {
    /// A codec for `params` as seen by this end (`server`: are we the server).
    pub(crate) fn new(params: DeflateParams, config: &DeflateConfig, server: bool) -> Codec {
        let (send_bits, send_reset, recv_bits, recv_reset) = if server {
            (
                params.server_max_window_bits,
                params.server_no_context_takeover,
                params.client_max_window_bits,
                params.client_no_context_takeover,
            )
        } else {
            (
                params.client_max_window_bits,
                params.client_no_context_takeover,
                params.server_max_window_bits,
                params.server_no_context_takeover,
            )
        };
        Codec {
            level: config.level,
            threshold: config.threshold,
            send_bits,
            send_reset,
            recv_bits,
            recv_reset,
            compressor: None,
            decompressor: None,
            stream_ended: false,
            scratch: Vec::new(),
        }
    }

    /// Whether a message of `len` bytes should be compressed (never with an 8-bit window: see module docs).
    pub(crate) fn wants_to_compress(&self, len: usize) -> bool {
        self.send_bits >= 9 && len >= self.threshold
    }

    /// Whether compression is possible at all (for fragmented sends).
    pub(crate) fn can_compress(&self) -> bool {
        self.send_bits >= 9
    }

    /// What a message compresses to depends on nothing but this key when our compressor starts afresh for
    /// every message (no context takeover on our side, RFC 7692 §7.1.1): the level and the window bits. Then
    /// two connections with the same key send the same bytes for the same message. `None` with context
    /// takeover.
    pub(crate) fn stateless_key(&self) -> Option<(u32, u8)> {
        self.send_reset.then_some((self.level, self.send_bits))
    }

    /// Compresses one piece of a message with a sync flush; on the last piece removes the trailing
    /// `00 00 ff ff` (RFC 7692 §7.2.1) and, without context takeover, resets the compressor. The result is in
    /// the returned buffer; give it back with [`put_scratch`](Self::put_scratch).
    pub(crate) fn compress(&mut self, data: &[u8], last: bool) -> Vec<u8> {
        let level = self.level;
        let bits = self.send_bits;
        let reset = self.send_reset;
        let c = self.compressor.get_or_insert_with(|| {
            if reset {
                pool::compressor(level, bits)
            } else {
                Compress::new_with_window_bits(Compression::new(level), false, bits)
            }
        });
        let mut out = core::mem::take(&mut self.scratch);
        out.clear();
        let mut consumed = 0usize;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve((data.len() - consumed) / 2 + 256);
            }
            let before = c.total_in();
            let _ = c
                .compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
                .expect("deflate cannot fail on valid state");
            consumed += (c.total_in() - before) as usize;
            if consumed == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        if last {
            if out.ends_with(&TAIL) {
                out.truncate(out.len() - 4);
            } else if out.is_empty() {
                // Nothing was pending since the last flush: an empty stored block's first byte, so that the
                // tail the receiver appends completes a valid block (RFC 7692 §7.2.3.6).
                out.push(0x00);
            }
            if self.send_reset {
                // Back to the pool (reset there) until the next message.
                if let Some(c) = self.compressor.take() {
                    pool::give_compressor(level, bits, c);
                }
            }
        }
        out
    }

    /// Returns the buffer from [`compress`](Self::compress) for reuse.
    pub(crate) fn put_scratch(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() <= 256 * 1024 {
            buf.clear();
            self.scratch = buf;
        }
    }

    /// Inflates from `input` into `out` until the input is used up or `out` reaches `cap` bytes. Returns the
    /// input bytes consumed. Memory is bounded by `cap`, whatever the compression ratio. On an error, `out`
    /// still holds what was inflated before it (at most `cap` + 1 bytes), so the caller can report whichever
    /// problem comes first in the data.
    pub(crate) fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<usize, InflateError> {
        if self.stream_ended {
            return Ok(input.len());
        }
        // Inflate with a window at least as large as the peer's (8 is not a valid zlib inflate window).
        let bits = self.recv_bits.max(9);
        let reset = self.recv_reset;
        let d = self.decompressor.get_or_insert_with(|| {
            if reset {
                pool::decompressor(bits)
            } else {
                Decompress::new_with_window_bits(false, bits)
            }
        });
        let mut consumed = 0usize;
        loop {
            if out.len() >= cap {
                return Ok(consumed);
            }
            let room = cap - out.len();
            if out.capacity() == out.len() {
                out.reserve(room.min(32 * 1024));
            }
            let spare_before = out.capacity() - out.len();
            let (in_before, out_before) = (d.total_in(), d.total_out());
            let result = d.decompress_vec(&input[consumed..], out, FlushDecompress::Sync);
            let Ok(status) = result else {
                out.truncate(cap + 1);
                return Err(InflateError::Corrupt);
            };
            // decompress_vec may write up to the spare capacity; enforce the cap exactly.
            if out.len() > cap {
                out.truncate(cap + 1);
                return Ok(consumed + (d.total_in() - in_before) as usize);
            }
            consumed += (d.total_in() - in_before) as usize;
            let produced = (d.total_out() - out_before) as usize;
            let filled = produced == spare_before;
            if status == Status::StreamEnd {
                // A block with BFINAL set: the stream is over; what follows in this message is ignored.
                self.stream_ended = true;
                return Ok(input.len());
            }
            if consumed == input.len() && !filled {
                return Ok(consumed);
            }
            if produced == 0 && consumed < input.len() && (d.total_in() - in_before) == 0 {
                return Err(InflateError::Corrupt);
            }
        }
    }

    /// Ends a message: inflates the removed tail (RFC 7692 §7.2.2) and, without context takeover (or after a
    /// BFINAL block), resets. `empty` says the message had no compressed bytes at all: then there is no block
    /// for the tail to complete, and it is not inflated.
    pub(crate) fn finish_message(&mut self, out: &mut Vec<u8>, cap: usize, empty: bool) -> Result<(), InflateError> {
        if !self.stream_ended && !empty {
            self.inflate(&TAIL, out, cap)?;
        }
        // A BFINAL block may also end inside the tail: either way the next message starts a new stream.
        if self.recv_reset {
            // Back to the pool (reset there) until the next message.
            if let Some(d) = self.decompressor.take() {
                pool::give_decompressor(self.recv_bits.max(9), d);
            }
        } else if self.stream_ended {
            if let Some(d) = &mut self.decompressor {
                d.reset(false);
            }
        }
        self.stream_ended = false;
        Ok(())
    }

    /// Bytes the codec holds now, estimated from zlib's documented needs (deflate: 2^(bits+2) for the window
    /// and hash chains plus 128 KiB at memory level 8; inflate: 2^bits plus ~7 KiB), for the memory budget.
    pub(crate) fn memory(&self) -> usize {
        let deflate = self.compressor.as_ref().map_or(0, |_| (1 << (self.send_bits + 2)) + (128 << 10));
        let inflate = self.decompressor.as_ref().map_or(0, |_| (1 << self.recv_bits.max(9)) + (7 << 10));
        deflate + inflate + self.scratch.capacity()
    }
}

/// Without the `deflate` feature no codec exists: permessage-deflate is never negotiated, so no value of this
/// type is ever made.
#[cfg(not(feature = "deflate"))]
#[derive(Debug)]
pub(crate) enum Codec {}

#[cfg(not(feature = "deflate"))]
impl Codec {
    pub(crate) fn wants_to_compress(&self, _: usize) -> bool {
        match *self {}
    }
    pub(crate) fn can_compress(&self) -> bool {
        match *self {}
    }
    pub(crate) fn compress(&mut self, _: &[u8], _: bool) -> Vec<u8> {
        match *self {}
    }
    pub(crate) fn put_scratch(&mut self, _: Vec<u8>) {
        match *self {}
    }
    pub(crate) fn inflate(&mut self, _: &[u8], _: &mut Vec<u8>, _: usize) -> Result<usize, InflateError> {
        match *self {}
    }
    pub(crate) fn finish_message(&mut self, _: &mut Vec<u8>, _: usize, _: bool) -> Result<(), InflateError> {
        match *self {}
    }
    pub(crate) fn memory(&self) -> usize {
        match *self {}
    }
}

#[cfg(all(test, feature = "deflate"))]
mod tests {
    use super::*;

    #[test]
    fn codec_round_trip_with_and_without_context_takeover() {
        for reset in [false, true] {
            let p = DeflateParams {
                server_no_context_takeover: reset,
                client_no_context_takeover: reset,
                server_max_window_bits: 9,
                client_max_window_bits: 15,
            };
            let cfg = DeflateConfig::default();
            let mut server = Codec::new(p, &cfg, true);
            let mut client = Codec::new(p, &cfg, false);
            for i in 0..5 {
                let msg = format!("{{\"id\":{i},\"payload\":\"{}\"}}", "abc".repeat(300 + i));
                let wire = server.compress(msg.as_bytes(), true);
                assert!(wire.len() < msg.len());
                let mut out = Vec::new();
                let used = client.inflate(&wire, &mut out, 1 << 20).ok().unwrap();
                assert_eq!(used, wire.len());
                client.finish_message(&mut out, 1 << 20, false).ok().unwrap();
                assert_eq!(out, msg.as_bytes());
                server.put_scratch(wire);
            }
        }
    }

    #[test]
    fn inflate_is_bounded_by_the_cap() {
        let p = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let cfg = DeflateConfig::default();
        let mut server = Codec::new(p, &cfg, true);
        let mut client = Codec::new(p, &cfg, false);
        let bomb = vec![0u8; 4 << 20];
        let wire = server.compress(&bomb, true);
        assert!(wire.len() < 8 * 1024);
        let mut out = Vec::new();
        let used = client.inflate(&wire, &mut out, 100_000).ok().unwrap();
        assert!(used <= wire.len());
        assert!(out.len() <= 100_001);
        assert!(out.capacity() <= 200_000);
    }
}
