//! Parse arbitrary bytes as a capture file (pcap or pcapng, uncompressed),
//! reading every frame until the end or the first error.
#![no_main]

use std::path::Path;

use gatewatch::capture::file::SliceReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz-input");
    let Ok(mut reader) = SliceReader::new(path, data) else {
        return;
    };
    let mut last = 0u64;
    while let Ok(Some(frame)) = reader.next_frame() {
        // Invariants: a frame lies inside the input, and reading advances.
        assert!(frame.data.len() <= data.len());
        assert!(reader.offset() > last && reader.offset() <= data.len() as u64);
        last = reader.offset();
    }
});
