//! Fuzz the catalogue loader on arbitrary text: no panic; a catalogue that
//! loads can identify a flow whose fields come from the same input.
#![no_main]

use gatewatch::catalogue::Catalogue;
use gatewatch::flow::Direction;
use gatewatch::proto::tls::TlsRecord;
use gatewatch::proto::{AppSummary, FlowCx};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = Catalogue::from_toml(text, "fuzz") else {
        return;
    };
    let mut app = AppSummary::default();
    app.first_bytes.fill(Direction::ToServer, data);
    app.tls = Some(TlsRecord {
        sni: Some(text.chars().take(255).collect()),
        cert_subject: Some(text.chars().take(512).collect()),
        ..TlsRecord::default()
    });
    let cx = FlowCx {
        src_port: 40000,
        dst_port: u16::from(data.first().copied().unwrap_or(0)),
        ip_proto: 6,
    };
    if let Some(ra) = c.identify(&app, &cx, &[text.to_owned()]) {
        assert!(ra.evidence.len() <= gatewatch::catalogue::MAX_EVIDENCE);
        assert!(ra.tool.is_some());
    }
});
