//! Zero-copy, proved: with a counting global allocator, replaying a real
//! capture through decode and the flow table allocates nothing per packet
//! once its flows exist. Allocation is allowed only when a flow is created or
//! an event is emitted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

mod common;

use gatewatch::capture::file::{open, CaptureFile};
use gatewatch::pipeline::{Engine, PipelineConfig};

struct CountingAlloc;

thread_local! {
    // Per thread, so that tests running in parallel do not count each
    // other's allocations. A const-initialised Cell never allocates.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the allocator may run while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(|c| c.get())
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Run every frame through one engine; return the allocations counted
/// while frames `from..` were processed, the frames in that window, and the
/// flows created and events emitted in it.
fn allocations_in_window(path: &Path, from: usize) -> (u64, u64, u64, u64) {
    let CaptureFile::Mapped(mapped) = open(path).expect("open capture") else {
        panic!("expected an uncompressed capture");
    };
    let mut engine = Engine::new(&PipelineConfig::default(), 1);
    let mut reader = mapped.reader();
    let mut index = 0usize;
    let mut seq = 0u64;
    let (mut allocs, mut frames, mut created_before, mut events) = (0u64, 0u64, 0u64, 0u64);
    while let Some(frame) = reader.next_frame().expect("read frame") {
        if index == from {
            created_before = engine.counters().1.created;
        }
        seq += 1;
        let before = allocations();
        engine.on_frame(seq, &frame);
        let after = allocations();
        if index >= from {
            if after > before && std::env::var_os("ALLOC_TRACE").is_some() {
                eprintln!("frame {index}: {} allocations", after - before);
            }
            allocs += after - before;
            frames += 1;
            events += engine.drain_events().count() as u64;
        } else {
            engine.drain_events().for_each(drop);
        }
        index += 1;
    }
    let created = engine.counters().1.created - created_before;
    (allocs, frames, created, events)
}

/// One OpenSSH session of 3763 frames (Zeek's ssh_kex_mlkem trace): after
/// the handshake, no frame allocates.
#[test]
fn steady_state_flow_does_not_allocate() {
    let Some(path) = common::corpus_file("alloc", "zeek/traces/ssh/ssh_kex_mlkem.pcap") else {
        return;
    };
    let (allocs, frames, created, events) = allocations_in_window(&path, 50);
    eprintln!("ssh_kex_mlkem: {frames} frames after the first 50: {allocs} allocations, {created} flows created, {events} events");
    assert_eq!(frames, 3763 - 50);
    assert_eq!(created, 0, "the session's flow exists before the window");
    assert_eq!(allocs, 0, "steady-state packets must not allocate");
}

/// A mixed capture (nDPI's VNC trace: several flows, ARP, handshakes):
/// allocations happen only with new flows and events.
#[test]
fn allocations_only_with_new_flows_or_events() {
    let Some(path) = common::corpus_file("alloc", "ndpi/pcap/vnc.pcap") else {
        return;
    };
    let (allocs, frames, created, events) = allocations_in_window(&path, 0);
    eprintln!(
        "vnc.pcap: {frames} frames: {allocs} allocations, {created} flows created, {events} events"
    );
    assert!(frames > 4000);
    assert!(created >= 2, "the trace holds at least two VNC sessions");
    // Each new flow may allocate its table slot growth and two stream
    // prefix buffers; each event its line. Nothing else.
    assert!(
        allocs <= 4 * (created + events) + 8,
        "{allocs} allocations for {created} flows and {events} events over {frames} frames"
    );
}
