//! Bit-level writer and reader, most significant bit first.

use crate::ChunkError;

/// Appends bits to a byte vector, most significant bit first.
#[derive(Debug, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 when it is full or there is none).
    used: u32,
}

impl BitWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append the low `n` bits of `value` (`n` at most 64).
    pub fn write(&mut self, value: u64, n: u32) {
        debug_assert!(n <= 64);
        let mut left = n;
        while left > 0 {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let free = 8 - self.used;
            let take = free.min(left);
            let shift = left - take;
            let part = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= part << (free - take);
            }
            self.used = (self.used + take) % 8;
            left -= take;
        }
    }

    pub fn bit(&mut self, set: bool) {
        self.write(u64::from(set), 1);
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads what a [`BitWriter`] wrote.
#[derive(Debug)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// The next `n` bits (`n` at most 64) as the low bits of the answer.
    pub fn read(&mut self, n: u32) -> Result<u64, ChunkError> {
        debug_assert!(n <= 64);
        if self.pos + n as usize > self.bytes.len() * 8 {
            return Err(ChunkError::Truncated);
        }
        let mut out = 0u64;
        let mut left = n;
        while left > 0 {
            let byte = self.bytes[self.pos / 8];
            let offset = (self.pos % 8) as u32;
            let avail = 8 - offset;
            let take = avail.min(left);
            let part = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            out = if take == 64 {
                part
            } else {
                (out << take) | part
            };
            self.pos += take as usize;
            left -= take;
        }
        Ok(out)
    }

    pub fn bit(&mut self) -> Result<bool, ChunkError> {
        Ok(self.read(1)? == 1)
    }
}

/// Zigzag: small magnitudes of either sign to small unsigned numbers.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// The number of bits needed for `v` (0 for 0).
pub fn width(v: u64) -> u32 {
    64 - v.leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_across_byte_edges() {
        let fields: Vec<(u64, u32)> = vec![
            (1, 1),
            (0b101, 3),
            (0xdead_beef, 32),
            (u64::MAX, 64),
            (0, 7),
            (0x1234_5678_9abc_def0, 64),
            (1, 2),
        ];
        let mut w = BitWriter::new();
        for (v, n) in &fields {
            w.write(*v, *n);
        }
        let bytes = w.into_bytes();
        assert_eq!(bytes.len(), (173usize).div_ceil(8));
        let mut r = BitReader::new(&bytes);
        for (v, n) in &fields {
            assert_eq!(r.read(*n).expect("read"), *v, "{n} bits");
        }
        // Only padding is left: reading past the last byte fails.
        assert!(r.read(8).is_err());
    }

    #[test]
    fn zigzag_is_its_own_inverse_at_the_extremes() {
        for v in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }
}
