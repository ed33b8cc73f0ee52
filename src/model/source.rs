//! Where the bytes of a weights file come from.
//!
//! Loading reads the file tensor by tensor straight into the tensors' own memory, so the whole
//! file never has to sit in (wasm) memory beside the tensors built from it: in the browser the
//! file stays in a JavaScript `Blob` (on disk, in Cache Storage or the picked file) or a
//! `Uint8Array`, and only one tensor's worth of bytes crosses at a time.

use std::io::{Read, Seek, SeekFrom};

/// A weights file of known length that can be read at any offset.
pub trait ByteSource {
    /// Length of the file in bytes.
    fn len(&self) -> usize;

    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` with the bytes at `offset..offset + buf.len()`; the caller keeps that range
    /// within `len()`. Fails when the bytes cannot be read (a file changed or removed on disk).
    fn read_at(&self, offset: usize, buf: &mut [u8]) -> std::io::Result<()>;
}

impl ByteSource for &[u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn read_at(&self, offset: usize, buf: &mut [u8]) -> std::io::Result<()> {
        buf.copy_from_slice(&self[offset..offset + buf.len()]);
        Ok(())
    }
}

impl ByteSource for Vec<u8> {
    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn read_at(&self, offset: usize, buf: &mut [u8]) -> std::io::Result<()> {
        buf.copy_from_slice(&self[offset..offset + buf.len()]);
        Ok(())
    }
}

/// `Read + Seek` over a source, for parsers that want a reader (GGUF).
pub struct SourceReader<'a> {
    source: &'a dyn ByteSource,
    pos: u64,
}

impl<'a> SourceReader<'a> {
    /// A reader at the start of `source`.
    pub fn new(source: &'a dyn ByteSource) -> Self {
        SourceReader { source, pos: 0 }
    }
}

impl Read for SourceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let len = self.source.len() as u64;
        if self.pos >= len {
            return Ok(0);
        }
        let n = buf.len().min((len - self.pos) as usize);
        self.source.read_at(self.pos as usize, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SourceReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => (self.source.len() as u64).checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reads_seeks_and_stops_at_the_end() {
        let bytes: &[u8] = b"0123456789";
        let mut r = SourceReader::new(&bytes);
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf).unwrap(), 4);
        assert_eq!(&buf, b"0123");
        r.seek(SeekFrom::End(-2)).unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"89");
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        assert!(r.seek(SeekFrom::Current(-100)).is_err());
        r.seek(SeekFrom::Start(5)).unwrap();
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"56789");
    }
}
