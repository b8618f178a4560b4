//! Reassembly of one handshake message from pieces that carry their own
//! offset: QUIC CRYPTO frames (RFC 9000 §19.6, "the offset ... of the
//! data in this frame") and DTLS handshake fragments (RFC 6347 §4.2.2,
//! `fragment_offset`/`fragment_length`). Pieces may come in any order,
//! repeat, or overlap; the first bytes written at an offset win (a hostile
//! retransmission cannot rewrite what was already fingerprinted).
//!
//! Bounded: at most `cap` bytes (given at creation, at most
//! [`MAX_ASSEMBLY`]) are kept, in one buffer and a bitmap of the filled
//! bytes, both allocated once, at the first piece. Each piece costs time
//! linear in its own length, never in what came before.

/// Largest message any assembler keeps (16 KiB: a ClientHello with
/// post-quantum key shares is under 2 KiB; padding-heavy ones under 8).
pub const MAX_ASSEMBLY: usize = 16 * 1024;

/// Bytes of one handshake message gathered by offset.
#[derive(Debug, Default)]
pub struct Assembler {
    cap: usize,
    buf: Vec<u8>,
    /// One bit per byte of `buf`: written already.
    filled: Vec<u64>,
    /// Bytes from 0 that are all filled.
    contiguous: usize,
    /// A piece reached past `cap` (the message is too large to keep).
    overflowed: bool,
}

impl Assembler {
    /// An assembler that keeps at most `cap` bytes (clamped to
    /// [`MAX_ASSEMBLY`]); nothing is allocated until the first piece.
    pub fn new(cap: usize) -> Assembler {
        Assembler {
            cap: cap.min(MAX_ASSEMBLY),
            ..Assembler::default()
        }
    }

    /// Write `data` at `offset`. Bytes already present are kept (first
    /// wins); bytes past the cap are dropped and remembered as overflow.
    pub fn insert(&mut self, offset: u64, data: &[u8]) {
        let Ok(start) = usize::try_from(offset) else {
            self.overflowed = true;
            return;
        };
        if data.is_empty() {
            return;
        }
        let end = start.saturating_add(data.len());
        if end > self.cap {
            self.overflowed = true;
        }
        let end = end.min(self.cap);
        if start >= end {
            return;
        }
        if self.buf.is_empty() {
            self.buf = vec![0; self.cap];
            self.filled = vec![0; self.cap.div_ceil(64)];
        }
        for (i, &b) in (start..end).zip(data) {
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            let Some(w) = self.filled.get_mut(word) else {
                break;
            };
            if *w & bit == 0 {
                *w |= bit;
                if let Some(dst) = self.buf.get_mut(i) {
                    *dst = b;
                }
            }
        }
        self.advance();
    }

    /// Move `contiguous` over the filled bytes that follow it.
    fn advance(&mut self) {
        while self.contiguous < self.cap {
            let (word, bit) = (self.contiguous / 64, self.contiguous % 64);
            let Some(&w) = self.filled.get(word) else {
                return;
            };
            let rest = w >> bit;
            // Count the run of ones from `bit` upward.
            let run = (!rest).trailing_zeros() as usize;
            let run = run.min(64 - bit);
            self.contiguous += run;
            if bit + run < 64 {
                return;
            }
        }
    }

    /// The filled bytes from offset 0 up to the first gap.
    pub fn contiguous(&self) -> &[u8] {
        self.buf.get(..self.contiguous).unwrap_or(&[])
    }

    /// A piece reached past the cap.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Release the buffers (the message was used or given up).
    pub fn release(&mut self) {
        self.buf = Vec::new();
        self.filled = Vec::new();
        self.contiguous = 0;
    }
}

/// The complete first handshake message in `bytes` (RFC 8446 §4: type,
/// u24 length, body), if all of it is there: `Some((type, body))`.
/// `Err(len)` when the header claims more than `cap` bytes.
pub fn complete_message(bytes: &[u8], cap: usize) -> Result<Option<(u8, &[u8])>, usize> {
    let Some(&[t, l0, l1, l2]) = bytes.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([0, l0, l1, l2]) as usize;
    if len.saturating_add(4) > cap {
        return Err(len);
    }
    Ok(bytes.get(4..4 + len).map(|body| (t, body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_pieces_join() {
        let mut a = Assembler::new(200);
        a.insert(70, &[2; 60]);
        assert_eq!(a.contiguous().len(), 0);
        a.insert(0, &[1; 70]);
        assert_eq!(a.contiguous().len(), 130);
        assert!(a.contiguous()[..70].iter().all(|&b| b == 1));
        assert!(a.contiguous()[70..].iter().all(|&b| b == 2));
    }

    #[test]
    fn overlaps_keep_the_first_bytes() {
        let mut a = Assembler::new(100);
        a.insert(10, &[1; 10]);
        a.insert(0, &[2; 30]);
        let c = a.contiguous();
        assert_eq!(c.len(), 30);
        assert_eq!(&c[..10], &[2; 10]);
        assert_eq!(&c[10..20], &[1; 10]);
        assert_eq!(&c[20..], &[2; 10]);
    }

    #[test]
    fn past_the_cap_is_dropped_and_flagged() {
        let mut a = Assembler::new(64);
        a.insert(u64::MAX, &[1]);
        assert!(a.overflowed());
        let mut a = Assembler::new(64);
        a.insert(60, &[1; 10]);
        a.insert(0, &[0; 60]);
        assert!(a.overflowed());
        assert_eq!(a.contiguous().len(), 64);
    }

    #[test]
    fn message_framing() {
        assert_eq!(complete_message(&[1, 0, 0, 2, 9], 100), Ok(None));
        assert_eq!(
            complete_message(&[1, 0, 0, 2, 9, 8, 7], 100),
            Ok(Some((1, &[9u8, 8][..])))
        );
        assert_eq!(complete_message(&[1, 0, 1, 0], 100), Err(256));
    }
}
