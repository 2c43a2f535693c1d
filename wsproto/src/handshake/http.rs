//! Reading an HTTP/1.1 head in bounded time and space, whatever the chunking.

use bytes::BytesMut;

/// Bytes of a connection before and after the end of its HTTP head.
///
/// The end (the first empty line: `\r\n\r\n`, or with bare LF line ends as httparse also accepts them, `\n\n`
/// or `\n\r\n`) is searched only in new bytes, so feeding a head one byte at a time costs linear time
/// (the quadratic re-scan behind CVE-2023-43669 cannot happen), and a head over the limit is refused as soon as
/// the limit is crossed.
#[derive(Debug, Default)]
pub(crate) struct HeadBuffer {
    pub(crate) buf: BytesMut,
    scanned: usize,
    /// Bytes the scanner has looked at, over all calls (the linear-time tests read it).
    #[cfg(test)]
    pub(crate) examined: u64,
}

pub(crate) struct HeadTooLarge;

impl HeadBuffer {
    pub(crate) fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The length of the head including its final blank line, once complete.
    pub(crate) fn head_len(&mut self, max: usize) -> Result<Option<usize>, HeadTooLarge> {
        let from = self.scanned.saturating_sub(2);
        let window = &self.buf[from..];
        let found = window.iter().enumerate().find_map(|(i, &b)| match (b, window.get(i + 1), window.get(i + 2)) {
            (b'\n', Some(b'\n'), _) => Some(i + 2),
            (b'\n', Some(b'\r'), Some(b'\n')) => Some(i + 3),
            _ => None,
        });
        #[cfg(test)]
        {
            // Positions visited: up to the one that completed the blank line, or the whole window.
            self.examined += found.unwrap_or(window.len()) as u64;
        }
        if let Some(pos) = found {
            let end = from + pos;
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
