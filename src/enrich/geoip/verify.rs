//! A full verifier for MaxMind DB files, written from the format
//! specification (MaxMind-DB-spec.md), checking what `mmdbverify` checks:
//!
//! 1. the metadata marker (`\xab\xcd\xefMaxMind.com`, the last one within the
//!    final 128 KiB), and a metadata map with the required keys and types;
//! 2. the search tree fits in the file and is followed by 16 zero bytes;
//! 3. every record of every node is a node, the "empty" value, or a pointer
//!    inside the data section (never into the separator);
//! 4. every data value a record points to decodes: valid types (extended
//!    ones included), sizes within the section, fixed-size numbers of the
//!    right size, UTF-8 strings, maps with string keys, pointers that target
//!    a non-pointer inside the section, nesting (and so pointer cycles)
//!    bounded by [`MAX_DEPTH`].
//!
//! The walk never builds owned values: it reads type and size headers and
//! steps over payloads. It is iterative (an explicit stack bounded by
//! `MAX_DEPTH`), a bitset over the data section remembers which pointer
//! targets and root values were already verified, and a work budget that is
//! a fixed multiple of the file size bounds the total time on any input.

use std::fmt;

/// The metadata marker; the metadata map starts right after it.
const METADATA_MARKER: &[u8] = b"\xab\xcd\xefMaxMind.com";
/// The marker must be within this many bytes of the end of the file.
const METADATA_MAX_SIZE: usize = 128 * 1024;
/// Zero bytes between the search tree and the data section.
const DATA_SEPARATOR_LEN: usize = 16;
/// Deepest nesting of maps, arrays and pointers accepted (libmaxminddb
/// uses the same bound); a pointer cycle runs into it.
pub const MAX_DEPTH: usize = 512;
/// Header steps allowed per byte of input (legitimate files need about 2).
const WORK_PER_BYTE: u64 = 16;
/// Flat allowance on top, so tiny files with shared values are not refused.
const WORK_BASE: u64 = 1 << 16;

/// Data types of the format, by their code in the control byte.
mod ty {
    pub const EXTENDED: u8 = 0;
    pub const POINTER: u8 = 1;
    pub const STRING: u8 = 2;
    pub const DOUBLE: u8 = 3;
    pub const BYTES: u8 = 4;
    pub const UINT16: u8 = 5;
    pub const UINT32: u8 = 6;
    pub const MAP: u8 = 7;
    pub const INT32: u8 = 8;
    pub const UINT64: u8 = 9;
    pub const UINT128: u8 = 10;
    pub const ARRAY: u8 = 11;
    pub const CONTAINER: u8 = 12;
    pub const END_MARKER: u8 = 13;
    pub const BOOLEAN: u8 = 14;
    pub const FLOAT: u8 = 15;
}

fn type_name(t: u8) -> &'static str {
    match t {
        ty::POINTER => "pointer",
        ty::STRING => "string",
        ty::DOUBLE => "double",
        ty::BYTES => "bytes",
        ty::UINT16 => "uint16",
        ty::UINT32 => "uint32",
        ty::MAP => "map",
        ty::INT32 => "int32",
        ty::UINT64 => "uint64",
        ty::UINT128 => "uint128",
        ty::ARRAY => "array",
        ty::CONTAINER => "data cache container",
        ty::END_MARKER => "end marker",
        ty::BOOLEAN => "boolean",
        ty::FLOAT => "float",
        _ => "unknown type",
    }
}

/// Which part of the file a problem is in; offsets are relative to it
/// (as the format's own pointers are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    File,
    Metadata,
    SearchTree,
    Data,
}

/// What is wrong with a database, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    pub section: Section,
    pub offset: Option<usize>,
    pub what: String,
}

impl VerifyError {
    fn new(section: Section, offset: Option<usize>, what: impl Into<String>) -> Self {
        VerifyError {
            section,
            offset,
            what: what.into(),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = match self.section {
            Section::File => "file",
            Section::Metadata => "metadata",
            Section::SearchTree => "search tree",
            Section::Data => "data section",
        };
        match self.offset {
            Some(off) => write!(f, "{place} offset {off}: {}", self.what),
            None => write!(f, "{place}: {}", self.what),
        }
    }
}

impl std::error::Error for VerifyError {}

/// The facts a verified file's metadata gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub node_count: u32,
    pub record_size: u16,
    pub ip_version: u16,
    pub database_type: String,
    pub build_epoch: u64,
    pub languages: Vec<String>,
    pub description_en: Option<String>,
    /// Bit depth of the IPv4 subtree in an IPv6 tree (96 unless the tree
    /// ends earlier along `::/96`); 0 for IPv4 trees.
    pub ipv4_start_depth: u8,
    /// Distinct data values the search tree points to.
    pub data_records: usize,
}

/// Verifies a whole MaxMind DB file.
pub fn verify(file: &[u8]) -> Result<Layout, VerifyError> {
    let marker_at = find_marker(file)?;
    let meta_start = marker_at + METADATA_MARKER.len();
    let meta = file.get(meta_start..).unwrap_or_default();
    let mut layout = read_metadata(meta)?;

    let tree_err = |what: String| VerifyError::new(Section::SearchTree, None, what);
    let node_bytes = usize::from(layout.record_size) / 4;
    let tree_len = usize::try_from(layout.node_count)
        .ok()
        .and_then(|n| n.checked_mul(node_bytes))
        .ok_or_else(|| tree_err("node_count overflows".into()))?;
    let data_start = tree_len
        .checked_add(DATA_SEPARATOR_LEN)
        .filter(|&d| d <= marker_at)
        .ok_or_else(|| {
            tree_err(format!(
                "{} nodes of {} bits need {} bytes plus the 16-byte separator, \
                 but the metadata starts at byte {}",
                layout.node_count, layout.record_size, tree_len, marker_at
            ))
        })?;
    let separator = file.get(tree_len..data_start).unwrap_or_default();
    if let Some(i) = separator.iter().position(|&b| b != 0) {
        return Err(VerifyError::new(
            Section::File,
            Some(tree_len + i),
            "data section separator is not 16 zero bytes",
        ));
    }
    let tree = file.get(..tree_len).unwrap_or_default();
    let data = file.get(data_start..marker_at).unwrap_or_default();
    let tree = Tree {
        bytes: tree,
        node_count: layout.node_count,
        record_size: layout.record_size,
        bits128: layout.ip_version == 6,
    };
    layout.data_records = verify_tree_and_data(&tree, data, file.len())?;
    if layout.ip_version == 6 {
        layout.ipv4_start_depth = tree.ipv4_start_depth();
    }
    Ok(layout)
}

/// Offset of the last metadata marker within the final 128 KiB.
fn find_marker(file: &[u8]) -> Result<usize, VerifyError> {
    let from = file.len().saturating_sub(METADATA_MAX_SIZE);
    let tail = file.get(from..).unwrap_or_default();
    tail.windows(METADATA_MARKER.len())
        .rposition(|w| w == METADATA_MARKER)
        .map(|i| from + i)
        .ok_or_else(|| {
            VerifyError::new(
                Section::File,
                None,
                "no metadata marker (\\xab\\xcd\\xefMaxMind.com) in the last 128 KiB: \
                 not a MaxMind DB file",
            )
        })
}

/// One value's header: its type, its size (for a pointer: the target) and
/// where its payload starts.
#[derive(Debug, Clone, Copy)]
struct Header {
    ty: u8,
    size: usize,
    payload: usize,
}

fn byte(sec: &[u8], at: usize, section: Section) -> Result<u8, VerifyError> {
    sec.get(at).copied().ok_or_else(|| {
        VerifyError::new(section, Some(at), "value runs past the end of the section")
    })
}

/// Big-endian unsigned integer of `n` (<= 4) bytes at `at`.
fn be(sec: &[u8], at: usize, n: usize, section: Section) -> Result<usize, VerifyError> {
    let bytes = at
        .checked_add(n)
        .and_then(|end| sec.get(at..end))
        .ok_or_else(|| {
            VerifyError::new(section, Some(at), "value runs past the end of the section")
        })?;
    Ok(bytes
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)))
}

/// Reads the control byte(s) at `pos` (spec: "Data Field Format").
fn header(sec: &[u8], pos: usize, section: Section) -> Result<Header, VerifyError> {
    let ctrl = byte(sec, pos, section)?;
    let mut p = pos + 1;
    let mut t = ctrl >> 5;
    if t == ty::POINTER {
        let ss = usize::from((ctrl >> 3) & 0x3);
        let vvv = usize::from(ctrl & 0x7);
        let n = ss + 1;
        let raw = be(sec, p, n, section)?;
        let target = match ss {
            0 => (vvv << 8) | raw,
            1 => ((vvv << 16) | raw) + 2048,
            2 => ((vvv << 24) | raw) + 526_336,
            _ => raw,
        };
        return Ok(Header {
            ty: ty::POINTER,
            size: target,
            payload: p + n,
        });
    }
    if t == ty::EXTENDED {
        let ext = byte(sec, p, section)?;
        p += 1;
        let full = u16::from(ext) + 7;
        if !(8..=15).contains(&full) {
            return Err(VerifyError::new(
                section,
                Some(pos),
                format!("extended type byte {ext} gives type {full}, not one of 8..=15"),
            ));
        }
        t = full as u8;
    }
    let size = match ctrl & 0x1f {
        29 => {
            let s = 29 + be(sec, p, 1, section)?;
            p += 1;
            s
        }
        30 => {
            let s = 285 + be(sec, p, 2, section)?;
            p += 2;
            s
        }
        31 => {
            let s = 65_821 + be(sec, p, 3, section)?;
            p += 3;
            s
        }
        s => usize::from(s),
    };
    Ok(Header {
        ty: t,
        size,
        payload: p,
    })
}

/// Checks a scalar's size and payload; returns where the next value starts.
fn scalar_end(sec: &[u8], pos: usize, h: Header, section: Section) -> Result<usize, VerifyError> {
    let bad = |what: String| Err(VerifyError::new(section, Some(pos), what));
    let max = match h.ty {
        ty::STRING | ty::BYTES => usize::MAX,
        ty::DOUBLE if h.size != 8 => return bad(format!("double of size {} (must be 8)", h.size)),
        ty::FLOAT if h.size != 4 => return bad(format!("float of size {} (must be 4)", h.size)),
        ty::DOUBLE | ty::FLOAT => h.size,
        ty::UINT16 => 2,
        ty::UINT32 | ty::INT32 => 4,
        ty::UINT64 => 8,
        ty::UINT128 => 16,
        // A boolean's value is its size field; it has no payload.
        ty::BOOLEAN if h.size > 1 => {
            return bad(format!("boolean with value {} (must be 0 or 1)", h.size))
        }
        ty::BOOLEAN => return Ok(h.payload),
        ty::CONTAINER | ty::END_MARKER => {
            return bad(format!("{} is not allowed in a database", type_name(h.ty)))
        }
        other => return bad(format!("unexpected type {other}")),
    };
    if h.size > max {
        return bad(format!(
            "{} of size {} (at most {max})",
            type_name(h.ty),
            h.size
        ));
    }
    let payload = h
        .payload
        .checked_add(h.size)
        .and_then(|end| sec.get(h.payload..end))
        .ok_or_else(|| {
            VerifyError::new(
                section,
                Some(pos),
                format!(
                    "{} of size {} runs past the end of the section ({} bytes)",
                    type_name(h.ty),
                    h.size,
                    sec.len()
                ),
            )
        })?;
    if h.ty == ty::STRING && std::str::from_utf8(payload).is_err() {
        return bad("string is not valid UTF-8".into());
    }
    Ok(h.payload + h.size)
}

/// A fixed-size bitset over section offsets.
struct BitSet(Vec<u64>);

impl BitSet {
    fn new(bits: usize) -> Self {
        BitSet(vec![0; bits.div_ceil(64)])
    }
    fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    fn set(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
    fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(wi, &w)| {
            (0..64)
                .filter(move |b| w & (1u64 << b) != 0)
                .map(move |b| wi * 64 + b)
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum FrameKind {
    Root,
    Map {
        key_next: bool,
    },
    Array,
    /// Following a pointer: resume at `ret` once the target is verified.
    Pointer {
        ret: usize,
        target: usize,
    },
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    kind: FrameKind,
    remaining: usize,
}

/// The value walker of one section (data or metadata).
struct Walker<'a> {
    sec: &'a [u8],
    section: Section,
    /// Offsets whose whole value (root or pointer target) is verified.
    done: BitSet,
    stack: Vec<Frame>,
    budget: u64,
}

impl<'a> Walker<'a> {
    fn new(sec: &'a [u8], section: Section, file_len: usize) -> Self {
        let budget = (file_len as u64)
            .saturating_mul(WORK_PER_BYTE)
            .saturating_add(WORK_BASE);
        Walker {
            sec,
            section,
            done: BitSet::new(sec.len()),
            stack: Vec::new(),
            budget,
        }
    }

    fn err(&self, at: usize, what: impl Into<String>) -> VerifyError {
        VerifyError::new(self.section, Some(at), what)
    }

    fn target(&self, pos: usize, h: Header) -> Result<usize, VerifyError> {
        if h.size >= self.sec.len() {
            return Err(self.err(
                pos,
                format!(
                    "pointer to offset {} outside the section ({} bytes)",
                    h.size,
                    self.sec.len()
                ),
            ));
        }
        Ok(h.size)
    }

    /// Verifies the whole value at `start`; returns where the next value
    /// starts (after the pointer bytes, for a pointer).
    fn walk(&mut self, start: usize) -> Result<usize, VerifyError> {
        self.stack.clear();
        self.stack.push(Frame {
            kind: FrameKind::Root,
            remaining: 1,
        });
        let mut pos = start;
        loop {
            // Close every finished container or followed pointer.
            let top = loop {
                let Some(top) = self.stack.last_mut() else {
                    return Ok(pos);
                };
                if top.remaining > 0 {
                    break top;
                }
                if let FrameKind::Pointer { ret, target } = top.kind {
                    self.done.set(target);
                    pos = ret;
                }
                self.stack.pop();
            };
            top.remaining -= 1;
            let (expect_key, in_pointer) = match &mut top.kind {
                FrameKind::Map { key_next } => {
                    let k = *key_next;
                    *key_next = !k;
                    (k, false)
                }
                FrameKind::Pointer { .. } => (false, true),
                _ => (false, false),
            };
            self.budget = self.budget.checked_sub(1).ok_or_else(|| {
                self.err(pos, "verification work limit exceeded (overlapping values)")
            })?;
            let h = header(self.sec, pos, self.section)?;
            if expect_key {
                pos = self.key(pos, h)?;
                continue;
            }
            pos = match h.ty {
                ty::POINTER => {
                    if in_pointer {
                        return Err(self.err(pos, "pointer to a pointer"));
                    }
                    let target = self.target(pos, h)?;
                    if self.done.get(target) {
                        h.payload
                    } else {
                        self.push(
                            pos,
                            FrameKind::Pointer {
                                ret: h.payload,
                                target,
                            },
                            1,
                        )?;
                        target
                    }
                }
                ty::MAP | ty::ARRAY => {
                    // Every value takes at least one byte: a count beyond
                    // the bytes left cannot be honest.
                    let left = self.sec.len().saturating_sub(h.payload);
                    let (kind, items) = if h.ty == ty::MAP {
                        (FrameKind::Map { key_next: true }, h.size.saturating_mul(2))
                    } else {
                        (FrameKind::Array, h.size)
                    };
                    if items > left {
                        return Err(self.err(
                            pos,
                            format!(
                                "{} of {} entries cannot fit in the {left} bytes left",
                                type_name(h.ty),
                                h.size
                            ),
                        ));
                    }
                    self.push(pos, kind, items)?;
                    h.payload
                }
                _ => scalar_end(self.sec, pos, h, self.section)?,
            };
        }
    }

    fn push(&mut self, pos: usize, kind: FrameKind, remaining: usize) -> Result<(), VerifyError> {
        if self.stack.len() > MAX_DEPTH {
            return Err(self.err(
                pos,
                format!("values nested deeper than {MAX_DEPTH} levels (or a pointer cycle)"),
            ));
        }
        self.stack.push(Frame { kind, remaining });
        Ok(())
    }

    /// A map key: a UTF-8 string, or a pointer to one.
    fn key(&mut self, pos: usize, h: Header) -> Result<usize, VerifyError> {
        match h.ty {
            ty::STRING => scalar_end(self.sec, pos, h, self.section),
            ty::POINTER => {
                let target = self.target(pos, h)?;
                if !self.done.get(target) {
                    let th = header(self.sec, target, self.section)?;
                    if th.ty != ty::STRING {
                        return Err(self.err(
                            pos,
                            format!("map key points to a {}, not a string", type_name(th.ty)),
                        ));
                    }
                    scalar_end(self.sec, target, th, self.section)?;
                    self.done.set(target);
                }
                Ok(h.payload)
            }
            other => Err(self.err(
                pos,
                format!("map key is a {}, not a string", type_name(other)),
            )),
        }
    }

    /// The header of the value at `pos`, following one pointer; also where
    /// the next value starts. The value itself is verified.
    fn resolve(&mut self, pos: usize) -> Result<(Header, usize, usize), VerifyError> {
        let next = self.walk(pos)?;
        let h = header(self.sec, pos, self.section)?;
        if h.ty == ty::POINTER {
            let target = self.target(pos, h)?;
            let th = header(self.sec, target, self.section)?;
            return Ok((th, target, next));
        }
        Ok((h, pos, next))
    }
}

/// The search tree as stored: `node_count` nodes of two records.
struct Tree<'a> {
    bytes: &'a [u8],
    node_count: u32,
    record_size: u16,
    /// IPv6 tree (128-bit paths) rather than IPv4 (32).
    bits128: bool,
}

impl Tree<'_> {
    /// Both records of node `n` (spec: "Search Tree Section").
    fn node(&self, n: usize) -> Option<(u32, u32)> {
        let len = usize::from(self.record_size) / 4;
        let b = self.bytes.get(n.checked_mul(len)?..)?.get(..len)?;
        let u = |s: &[u8]| s.iter().fold(0u32, |a, &x| (a << 8) | u32::from(x));
        Some(match self.record_size {
            24 => (u(b.get(0..3)?), u(b.get(3..6)?)),
            28 => {
                let mid = u32::from(*b.get(3)?);
                (
                    ((mid & 0xf0) << 20) | u(b.get(0..3)?),
                    ((mid & 0x0f) << 24) | u(b.get(4..7)?),
                )
            }
            _ => (u(b.get(0..4)?), u(b.get(4..8)?)),
        })
    }

    /// Follows `::/96` (all zero bits) from the root, as readers do to
    /// find where IPv4 addresses start in an IPv6 tree.
    fn ipv4_start_depth(&self) -> u8 {
        let mut node = 0u32;
        let mut depth = 0u8;
        while depth < 96 && node < self.node_count {
            match self.node(node as usize) {
                Some((left, _)) => node = left,
                None => break,
            }
            depth += 1;
        }
        depth
    }
}

/// Checks every record of every node, then every data value they point
/// to. Returns the number of distinct data values.
fn verify_tree_and_data(
    tree: &Tree<'_>,
    data: &[u8],
    file_len: usize,
) -> Result<usize, VerifyError> {
    let nodes = tree.node_count as usize;
    let mut roots = BitSet::new(data.len());
    let mut distinct = 0usize;
    for n in 0..nodes {
        let (left, right) = tree.node(n).ok_or_else(|| {
            VerifyError::new(Section::SearchTree, Some(n), "node outside the tree")
        })?;
        for (side, record) in [("left", left), ("right", right)] {
            let Some(beyond) = record.checked_sub(tree.node_count) else {
                if record == 0 {
                    // The root has no parent: this is a loop.
                    let off = n * usize::from(tree.record_size) / 4;
                    return Err(VerifyError::new(
                        Section::SearchTree,
                        Some(off),
                        format!("node {n} {side} record points back to the root node"),
                    ));
                }
                continue; // another node
            };
            if beyond == 0 {
                continue; // no data for this network
            }
            let bad = |what: String| {
                let off = n * usize::from(tree.record_size) / 4;
                let what = format!("node {n} {side} record {record}: {what}");
                Err(VerifyError::new(Section::SearchTree, Some(off), what))
            };
            let Some(offset) = (beyond as usize).checked_sub(DATA_SEPARATOR_LEN) else {
                return bad(format!(
                    "points into the data section separator (node_count {})",
                    tree.node_count
                ));
            };
            if offset >= data.len() {
                return bad(format!(
                    "points to data offset {offset}, past the data section ({} bytes)",
                    data.len()
                ));
            }
            if !roots.get(offset) {
                roots.set(offset);
                distinct += 1;
            }
        }
    }
    check_tree_shape(tree, &mut roots_scratch(nodes))?;
    let mut walker = Walker::new(data, Section::Data, file_len);
    for root in roots.ones() {
        if !walker.done.get(root) {
            walker.walk(root)?;
            walker.done.set(root);
        }
    }
    Ok(distinct)
}

/// Per-node scratch for [`check_tree_shape`]: (reached, in-degree, depth).
fn roots_scratch(nodes: usize) -> (BitSet, Vec<u8>, Vec<u8>) {
    (BitSet::new(nodes), vec![0; nodes], vec![0; nodes])
}

/// Every address must end on data or "empty" after at most its number of
/// bits: the nodes reachable from the root must form a DAG (aliases such
/// as 2002::/16 to the IPv4 subtree are legal) whose paths are shorter than
/// the address length. Reachability by an explicit-stack walk, then Kahn's
/// topological order over reachable nodes, carrying the longest depth;
/// linear in the node count, one in-degree and one depth byte per node.
fn check_tree_shape(
    tree: &Tree<'_>,
    (reached, indeg, depth): &mut (BitSet, Vec<u8>, Vec<u8>),
) -> Result<(), VerifyError> {
    let bits: u8 = if tree.node_count > 0 && tree.bits128 {
        128
    } else {
        32
    };
    let nc = tree.node_count;
    let node_err = |n: u32, what: String| {
        let off = n as usize * usize::from(tree.record_size) / 4;
        VerifyError::new(Section::SearchTree, Some(off), format!("node {n}: {what}"))
    };
    let children = |n: u32| -> [Option<u32>; 2] {
        let (l, r) = tree.node(n as usize).unwrap_or((nc, nc));
        [Some(l).filter(|&c| c < nc), Some(r).filter(|&c| c < nc)]
    };
    let mut stack = vec![0u32];
    reached.set(0);
    while let Some(n) = stack.pop() {
        for c in children(n).into_iter().flatten() {
            let d = indeg
                .get_mut(c as usize)
                .ok_or_else(|| node_err(c, "outside the tree".into()))?;
            *d = d
                .checked_add(1)
                .ok_or_else(|| node_err(c, "reached from more than 255 records".into()))?;
            if !reached.get(c as usize) {
                reached.set(c as usize);
                stack.push(c);
            }
        }
    }
    // Kahn: a node is ready once all its reachable parents are done.
    let mut done = 0usize;
    let mut reachable = 0usize;
    for i in reached.ones() {
        if (i as u64) < u64::from(nc) {
            reachable += 1;
        }
    }
    stack.push(0);
    while let Some(n) = stack.pop() {
        done += 1;
        let d = depth.get(n as usize).copied().unwrap_or(0);
        if d >= bits {
            return Err(node_err(
                n,
                format!("reached after {d} bits, but addresses have only {bits}"),
            ));
        }
        for c in children(n).into_iter().flatten() {
            let i = c as usize;
            if let Some(cd) = depth.get_mut(i) {
                *cd = (*cd).max(d + 1);
            }
            if let Some(k) = indeg.get_mut(i) {
                *k = k.saturating_sub(1);
                if *k == 0 {
                    stack.push(c);
                }
            }
        }
    }
    if done != reachable {
        return Err(VerifyError::new(
            Section::SearchTree,
            None,
            format!("{} reachable nodes form a loop", reachable - done),
        ));
    }
    Ok(())
}

/// Parses and checks the metadata map (spec: "Database Metadata").
fn read_metadata(meta: &[u8]) -> Result<Layout, VerifyError> {
    let mut w = Walker::new(meta, Section::Metadata, meta.len());
    let (top, at, _) = w.resolve(0)?;
    if top.ty != ty::MAP {
        return Err(w.err(
            at,
            format!("metadata is a {}, not a map", type_name(top.ty)),
        ));
    }
    let mut node_count = None;
    let mut record_size = None;
    let mut ip_version = None;
    let mut database_type = None;
    let mut build_epoch = None;
    let mut major = None;
    let mut languages = None;
    let mut description = None;
    let mut description_en = None;
    let mut pos = top.payload;
    for _ in 0..top.size {
        let (kh, kat, vpos) = w.resolve(pos)?;
        let key =
            str_at(meta, kat, kh).ok_or_else(|| w.err(kat, "metadata key is not a string"))?;
        let (vh, vat, next) = w.resolve(vpos)?;
        match key {
            "node_count" => node_count = Some(uint(&w, vat, vh, key, u32::MAX.into())?),
            "record_size" => record_size = Some(uint(&w, vat, vh, key, 32)?),
            "ip_version" => ip_version = Some(uint(&w, vat, vh, key, 6)?),
            "binary_format_major_version" => major = Some(uint(&w, vat, vh, key, u16::MAX.into())?),
            "binary_format_minor_version" => {
                uint(&w, vat, vh, key, u16::MAX.into())?;
            }
            "build_epoch" => build_epoch = Some(uint(&w, vat, vh, key, u64::MAX)?),
            "database_type" => {
                database_type = Some(
                    str_at(meta, vat, vh)
                        .ok_or_else(|| w.err(vat, "database_type is not a string"))?
                        .to_string(),
                )
            }
            "languages" => languages = Some(string_array(&mut w, vat, vh)?),
            "description" => {
                description_en = description_map(&mut w, vat, vh)?;
                description = Some(());
            }
            _ => {}
        }
        pos = next;
    }
    let missing = |k: &str| w.err(0, format!("required key {k} is missing"));
    let node_count = node_count.ok_or_else(|| missing("node_count"))?;
    let record_size = record_size.ok_or_else(|| missing("record_size"))?;
    let ip_version = ip_version.ok_or_else(|| missing("ip_version"))?;
    let major = major.ok_or_else(|| missing("binary_format_major_version"))?;
    let database_type = database_type.ok_or_else(|| missing("database_type"))?;
    let build_epoch = build_epoch.ok_or_else(|| missing("build_epoch"))?;
    let languages = languages.ok_or_else(|| missing("languages"))?;
    description.ok_or_else(|| missing("description"))?;
    if !matches!(record_size, 24 | 28 | 32) {
        return Err(w.err(
            0,
            format!("record_size {record_size} (must be 24, 28 or 32)"),
        ));
    }
    if !matches!(ip_version, 4 | 6) {
        return Err(w.err(0, format!("ip_version {ip_version} (must be 4 or 6)")));
    }
    if major != 2 {
        return Err(w.err(
            0,
            format!("binary_format_major_version {major} (must be 2)"),
        ));
    }
    if node_count == 0 {
        return Err(w.err(0, "node_count is 0"));
    }
    Ok(Layout {
        node_count: node_count as u32,
        record_size: record_size as u16,
        ip_version: ip_version as u16,
        database_type,
        build_epoch,
        languages,
        description_en,
        ipv4_start_depth: 0,
        data_records: 0,
    })
}

fn str_at(sec: &[u8], _at: usize, h: Header) -> Option<&str> {
    if h.ty != ty::STRING {
        return None;
    }
    let bytes = sec.get(h.payload..h.payload.checked_add(h.size)?)?;
    std::str::from_utf8(bytes).ok()
}

/// An unsigned integer of any width, no larger than `max`.
fn uint(w: &Walker<'_>, at: usize, h: Header, key: &str, max: u64) -> Result<u64, VerifyError> {
    if !matches!(h.ty, ty::UINT16 | ty::UINT32 | ty::UINT64 | ty::UINT128) {
        return Err(w.err(
            at,
            format!("{key} is a {}, not an unsigned integer", type_name(h.ty)),
        ));
    }
    let bytes = h
        .payload
        .checked_add(h.size)
        .and_then(|end| w.sec.get(h.payload..end))
        .ok_or_else(|| w.err(at, format!("{key} runs past the end")))?;
    let v = bytes.iter().fold(0u128, |a, &b| (a << 8) | u128::from(b));
    u64::try_from(v)
        .ok()
        .filter(|&v| v <= max)
        .ok_or_else(|| w.err(at, format!("{key} {v} is out of range (at most {max})")))
}

fn string_array(w: &mut Walker<'_>, at: usize, h: Header) -> Result<Vec<String>, VerifyError> {
    if h.ty != ty::ARRAY {
        return Err(w.err(
            at,
            format!("languages is a {}, not an array", type_name(h.ty)),
        ));
    }
    let mut out = Vec::new();
    let mut pos = h.payload;
    for _ in 0..h.size {
        let (eh, eat, next) = w.resolve(pos)?;
        let s = str_at(w.sec, eat, eh).ok_or_else(|| w.err(eat, "a language is not a string"))?;
        out.push(s.to_string());
        pos = next;
    }
    Ok(out)
}

/// Checks description is a map of strings; returns its English text.
fn description_map(
    w: &mut Walker<'_>,
    at: usize,
    h: Header,
) -> Result<Option<String>, VerifyError> {
    if h.ty != ty::MAP {
        return Err(w.err(
            at,
            format!("description is a {}, not a map", type_name(h.ty)),
        ));
    }
    let mut en = None;
    let mut pos = h.payload;
    for _ in 0..h.size {
        let (kh, kat, vpos) = w.resolve(pos)?;
        let (vh, vat, next) = w.resolve(vpos)?;
        let k =
            str_at(w.sec, kat, kh).ok_or_else(|| w.err(kat, "description key is not a string"))?;
        let v = str_at(w.sec, vat, vh)
            .ok_or_else(|| w.err(vat, "description value is not a string"))?;
        if k == "en" {
            en = Some(v.to_string());
        }
        pos = next;
    }
    Ok(en)
}
