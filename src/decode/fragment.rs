//! IPv4 and IPv6 fragment reassembly, bounded and allocation-free once warm.
//!
//! Datagrams are keyed by (source, destination, protocol, identification,
//! VLAN ids). Each one under reassembly owns a slot from a pool: a byte
//! buffer (header room, then the data at its offset) and a bitmap of the
//! 8-byte units received. Fragments may arrive in any order; where they
//! overlap the first data wins (RFC 5722 forbids overlaps in IPv6, and
//! "first wins" keeps an attacker from rewriting bytes already inspected),
//! and a conflicting overlap is counted. A datagram completes when every unit
//! up to the final fragment's end is present; its header is then written in
//! front of the data so that the normal decoder reads one contiguous packet.
//!
//! Limits: [`DecodeConfig`](super::DecodeConfig) caps the datagrams held,
//! the bytes held and how long a datagram may wait, measured on the capture
//! clock and checked lazily on each frame (no timer). Slots and buffers are
//! reused, so the steady state allocates nothing.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use super::{DecodeConfig, DecodeCounters, Layer};
use crate::capture::Timestamp;

/// Identity of a datagram under reassembly (RFC 791 §3.2, RFC 8200 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub id: u32,
    pub vlan: [u16; 2],
}

/// One fragment as found in a frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FragmentInfo<'a> {
    pub key: FragKey,
    /// Byte offset of `data` in the datagram.
    pub offset: u32,
    pub more: bool,
    /// The IPv4 header, or the fixed IPv6 header.
    pub header: &'a [u8],
    /// The fragment's share of the datagram.
    pub data: &'a [u8],
    /// Protocol of the reassembled payload.
    pub next_proto: u8,
}

/// Largest IP header written in front of a reassembled payload.
const HEADROOM: usize = 60;
const UNIT: usize = 8;
/// Largest datagram payload (16-bit IP length fields).
const MAX_DATAGRAM: usize = 65_535;
const UNITS: usize = MAX_DATAGRAM.div_ceil(UNIT);
const BITMAP_WORDS: usize = UNITS.div_ceil(64);
const IPV6_HEADER_LEN: usize = 40;
const MIN_IP_HEADER: usize = 20;

/// What became of a fragment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Insert {
    /// Kept, the datagram is still incomplete.
    Held,
    /// The datagram is complete: `Reassembler::datagram` gives it.
    Complete(Completed),
    /// Refused (counted).
    Dropped,
}

/// Where a completed datagram lies in its (released) slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Completed {
    slot: usize,
    start: usize,
    end: usize,
    /// Fragments the datagram was made of (duplicates included: each was a
    /// frame on the wire).
    pub frames: u32,
}

struct Slot {
    key: FragKey,
    generation: u64,
    live: bool,
    first_seen: Timestamp,
    /// HEADROOM bytes, then the datagram payload at its offsets.
    buf: Vec<u8>,
    units: Vec<u64>,
    units_set: usize,
    /// Payload length, known once the last fragment (MF=0) arrived.
    total: Option<usize>,
    /// Furthest byte any fragment reached.
    max_end: usize,
    header: [u8; HEADROOM],
    header_len: usize,
    header_from_first: bool,
    next_proto: u8,
    frames: u32,
}

impl Slot {
    fn new(key: FragKey) -> Slot {
        Slot {
            key,
            generation: 0,
            live: false,
            first_seen: Timestamp::ZERO,
            buf: Vec::new(),
            units: vec![0; BITMAP_WORDS],
            units_set: 0,
            total: None,
            max_end: 0,
            header: [0; HEADROOM],
            header_len: 0,
            header_from_first: false,
            next_proto: 0,
            frames: 0,
        }
    }

    fn reset(&mut self, key: FragKey, generation: u64, now: Timestamp) {
        self.key = key;
        self.generation = generation;
        self.live = true;
        self.first_seen = now;
        self.units.iter_mut().for_each(|w| *w = 0);
        self.units_set = 0;
        self.total = None;
        self.max_end = 0;
        self.header_len = 0;
        self.header_from_first = false;
        self.frames = 0;
    }

    fn unit_is_set(&self, u: usize) -> bool {
        self.units
            .get(u / 64)
            .is_some_and(|w| w & (1 << (u % 64)) != 0)
    }

    fn set_unit(&mut self, u: usize) {
        if let Some(w) = self.units.get_mut(u / 64) {
            *w |= 1 << (u % 64);
            self.units_set += 1;
        }
    }
}

/// Fragment reassembly state of one decoder.
pub(crate) struct Reassembler {
    max_datagrams: usize,
    memcap: usize,
    timeout_ns: u64,
    slots: Vec<Slot>,
    free: Vec<usize>,
    index: HashMap<FragKey, usize, foldhash::fast::RandomState>,
    /// Creation order of datagrams, for eviction and expiry. Entries of
    /// released slots go stale (generation mismatch) and are skipped.
    order: VecDeque<(usize, u64)>,
    next_generation: u64,
    /// Payload bytes of live datagrams (their furthest fragment end).
    held_bytes: usize,
    /// Buffer capacity kept by all slots, live or pooled.
    retained_bytes: usize,
}

impl Reassembler {
    pub(crate) fn new(config: &DecodeConfig) -> Reassembler {
        Reassembler {
            max_datagrams: config.max_fragment_datagrams.max(1),
            memcap: config.fragment_memcap,
            timeout_ns: config.fragment_timeout_ns,
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::default(),
            order: VecDeque::new(),
            next_generation: 0,
            held_bytes: 0,
            retained_bytes: 0,
        }
    }

    /// Datagrams under reassembly.
    pub(crate) fn live(&self) -> usize {
        self.index.len()
    }

    /// Drop datagrams whose first fragment is older than the timeout.
    pub(crate) fn expire(&mut self, now: Timestamp, c: &mut DecodeCounters) {
        while let Some(&(slot, generation)) = self.order.front() {
            let Some(s) = self.slots.get(slot) else {
                self.order.pop_front();
                continue;
            };
            if !s.live || s.generation != generation {
                self.order.pop_front();
                continue;
            }
            if now.since(s.first_seen) <= self.timeout_ns {
                break;
            }
            self.order.pop_front();
            self.release(slot, false);
            bump(c, "timeout");
        }
    }

    /// Add one fragment.
    pub(crate) fn insert(
        &mut self,
        f: &FragmentInfo<'_>,
        now: Timestamp,
        c: &mut DecodeCounters,
    ) -> Insert {
        let len = f.data.len();
        let offset = f.offset as usize;
        let end = offset + len;
        if len == 0 {
            bump(c, "empty fragment");
            return Insert::Dropped;
        }
        // RFC 791/8200: every fragment but the last carries a multiple of 8.
        if f.more && len % UNIT != 0 {
            bump(c, "bad fragment length");
            return Insert::Dropped;
        }
        if end > MAX_DATAGRAM {
            bump(c, "datagram too long");
            return Insert::Dropped;
        }
        let slot = match self.index.get(&f.key) {
            Some(&s) => s,
            None => match self.create(f.key, now, c) {
                Some(s) => s,
                None => return Insert::Dropped,
            },
        };
        let growth = end.saturating_sub(self.slots.get(slot).map_or(0, |s| s.max_end));
        if !self.make_room(slot, growth, c) {
            self.release(slot, false);
            bump(c, "memcap");
            return Insert::Dropped;
        }
        match self.store(slot, f, offset, end, c) {
            Ok(()) => {}
            Err(reason) => {
                self.release(slot, false);
                bump(c, reason);
                return Insert::Dropped;
            }
        }
        self.complete(slot, c)
    }

    /// The bytes of a datagram just completed; valid until the next insert.
    pub(crate) fn datagram(&self, done: Completed) -> &[u8] {
        self.slots
            .get(done.slot)
            .and_then(|s| s.buf.get(done.start..done.end))
            .unwrap_or(&[])
    }

    fn create(&mut self, key: FragKey, now: Timestamp, c: &mut DecodeCounters) -> Option<usize> {
        if self.index.len() >= self.max_datagrams {
            if !self.evict_oldest(None) {
                bump(c, "too many datagrams");
                return None;
            }
            bump(c, "datagram evicted");
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot::new(key));
                self.slots.len() - 1
            }
        };
        let generation = self.next_generation;
        self.next_generation += 1;
        self.slots.get_mut(slot)?.reset(key, generation, now);
        self.index.insert(key, slot);
        self.order.push_back((slot, generation));
        if self.order.len() > 2 * self.max_datagrams + 16 {
            let slots = &self.slots;
            self.order
                .retain(|&(s, g)| slots.get(s).is_some_and(|x| x.live && x.generation == g));
        }
        Some(slot)
    }

    /// Evict the oldest live datagram other than `keep`; false if none.
    fn evict_oldest(&mut self, keep: Option<usize>) -> bool {
        let mut skipped = None;
        let mut found = false;
        while let Some((slot, generation)) = self.order.pop_front() {
            let live = self
                .slots
                .get(slot)
                .is_some_and(|s| s.live && s.generation == generation);
            if !live {
                continue;
            }
            if Some(slot) == keep {
                skipped = Some((slot, generation));
                continue;
            }
            self.release(slot, false);
            found = true;
            break;
        }
        if let Some(entry) = skipped {
            self.order.push_front(entry);
        }
        found
    }

    /// Evict older datagrams until `growth` more bytes fit under the memcap.
    fn make_room(&mut self, slot: usize, growth: usize, c: &mut DecodeCounters) -> bool {
        while self.held_bytes + growth > self.memcap {
            if !self.evict_oldest(Some(slot)) {
                return false;
            }
            bump(c, "datagram evicted");
        }
        true
    }

    fn store(
        &mut self,
        slot: usize,
        f: &FragmentInfo<'_>,
        offset: usize,
        end: usize,
        c: &mut DecodeCounters,
    ) -> Result<(), &'static str> {
        let Some(s) = self.slots.get_mut(slot) else {
            return Err("lost slot");
        };
        s.frames = s.frames.saturating_add(1);
        if !f.more {
            match s.total {
                Some(t) if t != end => return Err("inconsistent length"),
                _ => s.total = Some(end),
            }
        }
        if s.total.is_some_and(|t| end > t) {
            return Err("inconsistent length");
        }
        // The IPv4 header of the first fragment carries all options; any
        // IPv6 fixed header will do.
        let first = offset == 0;
        if s.header_len == 0 || (first && !s.header_from_first) {
            let n = f.header.len().min(HEADROOM);
            if let (Some(dst), Some(src)) = (s.header.get_mut(..n), f.header.get(..n)) {
                dst.copy_from_slice(src);
                s.header_len = n;
                s.header_from_first = first;
                s.next_proto = f.next_proto;
            }
        }
        if end > s.max_end {
            self.held_bytes += end - s.max_end;
            s.max_end = end;
        }
        let need = HEADROOM + end;
        if s.buf.len() < need {
            let before = s.buf.capacity();
            s.buf.resize(need, 0);
            self.retained_bytes += s.buf.capacity() - before;
        }
        let mut conflict = false;
        let first_unit = offset / UNIT;
        let last_unit = end.div_ceil(UNIT);
        for u in first_unit..last_unit {
            let a = (u * UNIT).max(offset);
            let b = ((u + 1) * UNIT).min(end);
            let already = s.unit_is_set(u);
            let (Some(src), Some(dst)) = (
                f.data.get(a - offset..b - offset),
                s.buf.get_mut(HEADROOM + a..HEADROOM + b),
            ) else {
                return Err("lost slot");
            };
            if already {
                conflict |= dst != src;
            } else {
                dst.copy_from_slice(src);
                s.set_unit(u);
            }
        }
        if conflict {
            bump(c, "overlap conflict");
        }
        Ok(())
    }

    fn complete(&mut self, slot: usize, c: &mut DecodeCounters) -> Insert {
        let Some(s) = self.slots.get_mut(slot) else {
            return Insert::Dropped;
        };
        let Some(total) = s.total else {
            return Insert::Held;
        };
        if s.units_set < total.div_ceil(UNIT) {
            return Insert::Held;
        }
        let hlen = s.header_len;
        let is_v6 = s.header.first().is_some_and(|b| b >> 4 == 6);
        let (hlen, length_field) = if is_v6 {
            (IPV6_HEADER_LEN, total)
        } else {
            (hlen, hlen + total)
        };
        if length_field > MAX_DATAGRAM || !(MIN_IP_HEADER..=HEADROOM).contains(&hlen) {
            self.release(slot, false);
            bump(c, "datagram too long");
            return Insert::Dropped;
        }
        let start = HEADROOM - hlen;
        let next_proto = s.next_proto;
        let frames = s.frames;
        let (Some(dst), Some(src)) = (s.buf.get_mut(start..HEADROOM), s.header.get(..hlen)) else {
            self.release(slot, false);
            return Insert::Dropped;
        };
        dst.copy_from_slice(src);
        let [hi, lo] = (length_field as u16).to_be_bytes();
        // IPv6: payload length and next header (the extension headers in
        // front of the fragment header are dropped). IPv4: total length, and
        // flags/offset cleared since it is no longer a fragment.
        let patch: [(usize, u8); 4] = if is_v6 {
            [(4, hi), (5, lo), (6, next_proto), (6, next_proto)]
        } else {
            [(2, hi), (3, lo), (6, 0), (7, 0)]
        };
        for (at, v) in patch {
            if let Some(b) = dst.get_mut(at) {
                *b = v;
            }
        }
        self.release(slot, true);
        Insert::Complete(Completed {
            slot,
            start,
            end: HEADROOM + total,
            frames,
        })
    }

    /// Return a slot to the pool; with `keep_buffer` its contents stay
    /// readable until the next insert (a completed datagram).
    fn release(&mut self, slot: usize, keep_buffer: bool) {
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        if !s.live {
            return;
        }
        s.live = false;
        self.held_bytes = self.held_bytes.saturating_sub(s.max_end);
        self.index.remove(&s.key);
        // Keep warm buffers only while the pool stays under the memcap.
        if !keep_buffer && self.retained_bytes > self.memcap {
            self.retained_bytes = self.retained_bytes.saturating_sub(s.buf.capacity());
            s.buf = Vec::new();
        }
        self.free.push(slot);
    }
}

fn bump(c: &mut DecodeCounters, reason: &'static str) {
    *c.errors.entry((Layer::Fragment, reason)).or_default() += 1;
}
