//! The input prelude of the byte-stream targets, and the three chunkings every input is fed in.
//!
//! ```text
//! byte 0      flags (meaning per target)
//! byte 1      preset (limits; meaning per target)
//! byte 2      n: the number of explicit chunk sizes is n % 9
//! n bytes     chunk sizes: (b & 0x3f) << (3 * (b >> 6)), i.e. 0..=63 times 1, 8, 64 or 512 (0 = empty chunk)
//! rest        the data; whatever the explicit chunks leave is one last chunk
//! ```

/// A parsed prelude.
#[derive(Debug, Clone)]
pub struct Prelude<'a> {
    pub flags: u8,
    pub preset: u8,
    pub sizes: Vec<usize>,
    pub data: &'a [u8],
}

impl<'a> Prelude<'a> {
    /// `None` when the input is too short for its prelude.
    pub fn parse(input: &'a [u8]) -> Option<Prelude<'a>> {
        let [flags, preset, n, rest @ ..] = input else { return None };
        let n = (*n % 9) as usize;
        if rest.len() < n {
            return None;
        }
        let sizes = rest[..n].iter().map(|&b| ((b & 0x3f) as usize) << (3 * (b >> 6))).collect();
        Some(Prelude { flags: *flags, preset: *preset, sizes, data: &rest[n..] })
    }

    /// The data in the input's own chunks.
    pub fn chunks(&self) -> Vec<&'a [u8]> {
        split(self.data, &self.sizes)
    }

    /// The chunkings every input is checked under: all at once, the input's chunks, byte by byte.
    pub fn chunkings(&self) -> [Vec<&'a [u8]>; 3] {
        [vec![self.data], self.chunks(), self.data.chunks(1).collect()]
    }
}

/// Splits `data` into chunks of the given sizes (clamped), then the rest as one chunk.
pub fn split<'a>(data: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(sizes.len() + 1);
    let mut at = 0;
    for &s in sizes {
        let end = (at + s).min(data.len());
        out.push(&data[at..end]);
        at = end;
    }
    out.push(&data[at..]);
    out
}

/// The largest chunk of a chunking.
pub fn largest(chunks: &[&[u8]]) -> usize {
    chunks.iter().map(|c| c.len()).max().unwrap_or(0)
}
