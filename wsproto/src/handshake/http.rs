//! Reading an HTTP/1.1 head in bounded time and space, whatever the chunking.

use bytes::BytesMut;

/// Bytes of a connection before and after the end of its HTTP head.
///
/// The end (`\r\n\r\n`) is searched only in new bytes, so feeding a head one byte at a time costs linear time
/// (the quadratic re-scan behind CVE-2023-43669 cannot happen), and a head over the limit is refused as soon as
/// the limit is crossed.
#[derive(Debug, Default)]
pub(crate) struct HeadBuffer {
    pub(crate) buf: BytesMut,
    scanned: usize,
}

pub(crate) struct HeadTooLarge;

impl HeadBuffer {
    pub(crate) fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The length of the head including its final blank line, once complete.
    pub(crate) fn head_len(&mut self, max: usize) -> Result<Option<usize>, HeadTooLarge> {
        let from = self.scanned.saturating_sub(3);
        let window = &self.buf[from..];
        if let Some(pos) = window.windows(4).position(|w| w == b"\r\n\r\n") {
            let end = from + pos + 4;
            if end > max {
                return Err(HeadTooLarge);
            }
            return Ok(Some(end));
        }
        self.scanned = self.buf.len();
        if self.buf.len() >= max {
            return Err(HeadTooLarge);
        }
        Ok(None)
    }
}
