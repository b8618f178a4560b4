//! Lowercase hexadecimal, as fingerprints print their hashes (JA3, JA4,
//! HASSH), written into fixed buffers without allocating.

/// Lowercase hex of `bytes` into `out` (stops at the shorter of the two).
pub(crate) fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        if let [hi, lo] = pair {
            *hi = nibble(b >> 4);
            *lo = nibble(b & 0x0f);
        }
    }
}

/// Lowercase hex digit of the low nibble of `n`.
pub(crate) fn nibble(n: u8) -> u8 {
    match n & 0x0f {
        d @ 0..=9 => b'0' + d,
        d => b'a' + (d - 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_pairs() {
        let mut out = [0u8; 6];
        hex_into(&[0x00, 0xab, 0x9f], &mut out);
        assert_eq!(&out, b"00ab9f");
        // A shorter output takes what fits.
        let mut short = [0u8; 2];
        hex_into(&[0xfe, 0x01], &mut short);
        assert_eq!(&short, b"fe");
    }
}
