//! Reassembly of the first bytes of one TCP direction (the "stream prefix").
//!
//! The prefix starts at the ISN + 1 of its direction when the SYN (or
//! SYN-ACK) was seen, else at the sequence number of the first data segment
//! (the flow marks that case). Only bytes that fall inside the window
//! `[0, cap)` of the prefix are kept; beyond it nothing is buffered.
//!
//! The buffer (`cap` bytes) is allocated when the first payload lands in the
//! window, and only if the table's memcap allows; out-of-order segments are
//! written in place and a small fixed array of filled ranges remembers which
//! bytes are present. Overlaps keep the bytes received first; a disagreement
//! is counted. Offsets are computed with `u32` wrapping arithmetic, so a
//! stream whose sequence numbers wrap past 2^32 reassembles like any other.

use arrayvec::ArrayVec;

/// How many disjoint filled ranges a prefix remembers (the contiguous start
/// counts as one). A segment that would need one more is dropped: a
/// retransmission may bring it back later.
pub const MAX_RANGES: usize = 8;

/// The memory the prefixes of one table may take, shared by all flows.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub used: usize,
    pub memcap: usize,
    /// Bytes of one direction's prefix.
    pub prefix: usize,
}

/// What happened to one segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentOutcome {
    /// The contiguous prefix grew.
    pub grew: bool,
    /// Bytes that disagreed with bytes already held.
    pub conflict: bool,
    /// Bytes inside the window that could not be held (memcap, holes).
    pub lost: u32,
    /// The memcap refused this direction a buffer.
    pub memcap_hit: bool,
    /// The segment was dropped for lack of a free range slot.
    pub holes_full: bool,
}

/// Bytes a stream buffer starts with: a ClientHello, or a server's
/// hello-to-certificate flight, usually fits.
const FIRST_ALLOCATION: usize = 4096;

/// One direction's stream prefix.
#[derive(Debug, Default)]
pub struct StreamPrefix {
    /// Sequence number of prefix byte 0, once known.
    base: Option<u32>,
    /// The start was not seen (no SYN in this direction).
    pub midstream: bool,
    /// Nothing more is buffered (the window is full, a dissector is done,
    /// or the memcap refused a buffer).
    pub done: bool,
    /// The window's bytes, grown as they arrive (most streams stop after a
    /// hello of a few hundred bytes, so the whole window is rarely touched).
    buf: Vec<u8>,
    /// Bytes of the memcap this direction holds: its buffer's capacity,
    /// charged as it grows (at most the window).
    reserved: usize,
    /// Filled byte ranges `[start, end)` of the window, sorted, disjoint and
    /// not adjacent.
    ranges: ArrayVec<(u32, u32), MAX_RANGES>,
    /// Window bytes that were given up on.
    pub lost: u32,
}

impl StreamPrefix {
    /// The SYN of this direction was seen with sequence number `isn`.
    pub fn set_isn(&mut self, isn: u32) {
        if self.base.is_none() {
            self.base = Some(isn.wrapping_add(1));
        }
    }

    /// The contiguous bytes from the start of the stream.
    pub fn contiguous(&self) -> &[u8] {
        let n = self.contiguous_len();
        self.buf.get(..n as usize).unwrap_or(&[])
    }

    pub fn contiguous_len(&self) -> u32 {
        match self.ranges.first() {
            Some(&(0, end)) => end,
            _ => 0,
        }
    }

    /// Bytes of the memcap this prefix holds.
    pub fn allocated(&self) -> usize {
        self.reserved
    }

    /// Make room for `len` bytes, charging the growth to the memcap: the
    /// first allocation takes a typical handshake flight at once, later ones
    /// double, never past the window. `false` when the memcap refuses.
    fn charge(&mut self, len: usize, budget: &mut Budget) -> bool {
        if len <= self.reserved {
            return true;
        }
        let target = if self.reserved == 0 {
            len.max(FIRST_ALLOCATION)
        } else {
            len.max(self.reserved.saturating_mul(2))
        }
        .min(budget.prefix)
        .max(len);
        let extra = target - self.reserved;
        if budget.used.saturating_add(extra) > budget.memcap {
            return false;
        }
        budget.used += extra;
        self.buf
            .reserve_exact(target.saturating_sub(self.buf.len()));
        self.reserved = target;
        true
    }

    /// Give the buffer back; returns the bytes of memcap freed.
    pub fn release(&mut self) -> usize {
        let n = self.reserved;
        self.buf = Vec::new();
        self.reserved = 0;
        n
    }

    /// Take the payload of a segment whose first byte has sequence number
    /// `seq` (for a SYN with data, the ISN + 1).
    pub fn add(&mut self, seq: u32, payload: &[u8], budget: &mut Budget) -> SegmentOutcome {
        let mut out = SegmentOutcome::default();
        if self.done || payload.is_empty() || budget.prefix == 0 {
            return out;
        }
        let base = *self.base.get_or_insert_with(|| {
            self.midstream = true;
            seq
        });
        let cap = budget.prefix.min(u32::MAX as usize) as i64;
        // Offset of the segment in the window; the i32 view of the wrapped
        // difference puts old (retransmitted, pre-start) bytes below zero.
        let rel = i64::from(seq.wrapping_sub(base) as i32);
        let start = rel.max(0);
        let end = (rel + payload.len() as i64).min(cap);
        if start >= end {
            return out;
        }
        let Some(src) = payload.get((start - rel) as usize..(end - rel) as usize) else {
            return out;
        };
        let (start, end) = (start as u32, end as u32);
        if !self.charge(end as usize, budget) {
            self.done = true;
            out.memcap_hit = true;
            out.lost = end - start;
            self.lost = self.lost.saturating_add(out.lost);
            return out;
        }
        let before = self.contiguous_len();
        if !self.can_record(start, end) {
            out.holes_full = true;
            out.lost = end - start;
            self.lost = self.lost.saturating_add(out.lost);
            return out;
        }
        out.conflict = self.write(start, src);
        self.record(start, end);
        let after = self.contiguous_len();
        out.grew = after > before;
        if u64::from(after) >= cap as u64 {
            self.done = true;
        }
        out
    }

    /// Copy the bytes of `[start, start + src.len())` that are not held yet,
    /// and compare those that are. Returns whether any held byte differed.
    fn write(&mut self, start: u32, src: &[u8]) -> bool {
        let end = start + src.len() as u32;
        if self.buf.len() < end as usize {
            // Within what `charge` reserved (and the memcap paid for).
            self.buf.resize(end as usize, 0);
        }
        let buf = self.buf.as_mut_slice();
        let mut conflict = false;
        let mut cur = start;
        let copy = |buf: &mut [u8], from: u32, to: u32| {
            let s = (from - start) as usize..(to - start) as usize;
            if let (Some(d), Some(s)) = (buf.get_mut(from as usize..to as usize), src.get(s)) {
                d.copy_from_slice(s);
            }
        };
        for &(rs, re) in &self.ranges {
            if cur >= end || rs >= end {
                break;
            }
            if re <= cur {
                continue;
            }
            if rs > cur {
                copy(buf, cur, rs);
                cur = rs;
            }
            let to = re.min(end);
            let held = buf.get(cur as usize..to as usize);
            let new = src.get((cur - start) as usize..(to - start) as usize);
            conflict |= held != new;
            cur = to;
        }
        if cur < end {
            copy(buf, cur, end);
        }
        conflict
    }

    /// Whether `[start, end)` can be merged into the ranges (a new disjoint
    /// range needs a free slot).
    fn can_record(&self, start: u32, end: u32) -> bool {
        self.ranges.len() < MAX_RANGES
            || self.ranges.iter().any(|&(rs, re)| rs <= end && start <= re)
    }

    /// Merge `[start, end)` into the filled ranges.
    fn record(&mut self, start: u32, end: u32) {
        let (mut s, mut e) = (start, end);
        let mut merged: ArrayVec<(u32, u32), MAX_RANGES> = ArrayVec::new();
        let mut placed = false;
        for &(rs, re) in &self.ranges {
            if re < s {
                let _ = merged.try_push((rs, re));
            } else if rs > e {
                if !placed {
                    let _ = merged.try_push((s, e));
                    placed = true;
                }
                let _ = merged.try_push((rs, re));
            } else {
                // Touching or overlapping: widen the new range.
                s = s.min(rs);
                e = e.max(re);
            }
        }
        if !placed {
            let _ = merged.try_push((s, e));
        }
        self.ranges = merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The SSLv2-compatible ClientHello of zeek/traces/tls/ssl.v3.pcap
    // (frame 4, tcp.seq_raw 3928065544 = ISN 3928065543 + 1), 87 bytes as
    // tshark's `tcp.payload` shows them.
    const HELLO_HEX: &str = "8055010301003c0000001000003900003800003500003300003200000400000500002f00001600001300feff00000a00001500001200fefe000009000064000062000003000006e6b8efdf91cf44f7eae43c83398fdcb2";
    const ISN: u32 = 3_928_065_543;

    fn hello() -> Vec<u8> {
        crate::testutil::hex(HELLO_HEX)
    }

    fn budget(prefix: usize) -> Budget {
        Budget {
            used: 0,
            memcap: 1 << 20,
            prefix,
        }
    }

    #[test]
    fn in_order() {
        let h = hello();
        assert_eq!(h.len(), 87);
        let mut b = budget(4096);
        let mut p = StreamPrefix::default();
        p.set_isn(ISN);
        let o = p.add(ISN + 1, &h[..40], &mut b);
        assert!(o.grew);
        let o = p.add(ISN + 41, &h[40..], &mut b);
        assert!(o.grew && !o.conflict);
        assert_eq!(p.contiguous(), &h[..]);
        assert!(!p.midstream);
        assert_eq!(b.used, 4096);
    }

    #[test]
    fn reordered() {
        let h = hello();
        let mut b = budget(4096);
        let mut p = StreamPrefix::default();
        p.set_isn(ISN);
        assert!(!p.add(ISN + 61, &h[60..], &mut b).grew);
        assert!(!p.add(ISN + 31, &h[30..60], &mut b).grew);
        assert_eq!(p.contiguous(), b"");
        assert!(p.add(ISN + 1, &h[..30], &mut b).grew);
        assert_eq!(p.contiguous(), &h[..]);
    }

    #[test]
    fn retransmitted_and_old_bytes() {
        let h = hello();
        let mut b = budget(4096);
        let mut p = StreamPrefix::default();
        p.set_isn(ISN);
        p.add(ISN + 1, &h[..50], &mut b);
        // Full retransmission, then one that starts before the ISN + 1.
        let o = p.add(ISN + 1, &h[..50], &mut b);
        assert!(!o.grew && !o.conflict);
        let mut early = vec![0xAA];
        early.extend_from_slice(&h[..60]);
        let o = p.add(ISN, &early, &mut b);
        assert!(o.grew && !o.conflict);
        assert_eq!(p.contiguous(), &h[..60]);
    }

    #[test]
    fn overlap_conflict_keeps_first() {
        let h = hello();
        let mut b = budget(4096);
        let mut p = StreamPrefix::default();
        p.set_isn(ISN);
        p.add(ISN + 1, &h[..20], &mut b);
        p.add(ISN + 41, &h[40..60], &mut b);
        let mut forged = h[10..50].to_vec();
        forged[5] ^= 0xff; // inside the first held range
        let o = p.add(ISN + 11, &forged, &mut b);
        assert!(o.conflict && o.grew);
        assert_eq!(p.contiguous_len(), 60);
        // Fill the remaining hole honestly; the held bytes are the first ones.
        p.add(ISN + 1, &h, &mut b);
        assert_eq!(p.contiguous(), &h[..]);
        // A forged byte in the gap [20, 40) came first and was kept.
        let mut p = StreamPrefix::default();
        p.set_isn(ISN);
        p.add(ISN + 1, &h[..20], &mut b);
        let mut forged = h[20..40].to_vec();
        forged[0] ^= 0xff;
        p.add(ISN + 21, &forged, &mut b);
        assert!(p.add(ISN + 1, &h, &mut b).conflict);
        assert_eq!(p.contiguous()[20], h[20] ^ 0xff);
    }

    #[test]
    fn sequence_wraparound() {
        let h = hello();
        let mut b = budget(4096);
        let mut p = StreamPrefix::default();
        let isn = u32::MAX - 10; // byte 0 at 2^32 - 10, byte 10 at 0
        p.set_isn(isn);
        p.add(isn.wrapping_add(1 + 30), &h[30..], &mut b);
        p.add(isn.wrapping_add(1), &h[..30], &mut b);
        assert_eq!(p.contiguous(), &h[..]);
    }

    #[test]
    fn window_cap_and_done() {
        let h = hello();
        let mut b = budget(32);
        let mut p = StreamPrefix::default();
        p.set_isn(ISN);
        // Beyond the window: nothing buffered, no buffer even allocated.
        assert_eq!(p.add(ISN + 33, &h[32..], &mut b), SegmentOutcome::default());
        assert_eq!(p.allocated(), 0);
        let o = p.add(ISN + 1, &h, &mut b);
        assert!(o.grew);
        assert_eq!(p.contiguous(), &h[..32]);
        assert!(p.done);
        assert_eq!(p.allocated(), 32);
    }

    #[test]
    fn midstream_start_and_memcap() {
        let h = hello();
        let mut b = Budget {
            used: 0,
            memcap: 100,
            prefix: 64,
        };
        let mut p = StreamPrefix::default();
        p.add(1000, &h[..10], &mut b);
        assert!(p.midstream);
        assert_eq!(p.contiguous(), &h[..10]);
        let mut q = StreamPrefix::default();
        let o = q.add(5, &h[..10], &mut b);
        assert!(o.memcap_hit && q.done);
        assert_eq!(q.allocated(), 0);
        assert_eq!(b.used, 64);
        assert_eq!(p.release(), 64);
    }

    #[test]
    fn holes_are_bounded() {
        let mut b = budget(4096);
        let mut p = StreamPrefix::default();
        p.set_isn(0);
        // 8 disjoint one-byte segments fill the range array.
        for i in 0..MAX_RANGES as u32 {
            assert!(!p.add(1 + 10 + 2 * i, b"x", &mut b).holes_full);
        }
        let o = p.add(1 + 100, b"y", &mut b);
        assert!(o.holes_full);
        assert_eq!(o.lost, 1);
        // A segment joining existing ranges still fits.
        assert!(!p.add(1 + 11, b"z", &mut b).holes_full);
    }
}
