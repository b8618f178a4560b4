//! The RDP and VNC dissectors on real clients against real servers
//! (tests/pcap/rdp and tests/pcap/vnc, made by
//! tests/pcap/lab-remote-desktop.sh; see the README.md beside them), run
//! through the whole library pipeline. Expected values are tshark's on the
//! same files (commands beside each test); every line is checked against
//! the event schemas.

mod common;

use std::path::PathBuf;

use serde_json::{json, Value};

fn lab(rel: &str) -> PathBuf {
    common::crate_root().join("tests/pcap").join(rel)
}

/// All events of one capture, each validated against its schema.
fn events(rel: &str) -> Vec<Value> {
    let (out, res) = common::run(&[lab(rel)], 1);
    res.unwrap_or_else(|e| panic!("{rel}: {e}"));
    let text = String::from_utf8(out.clone()).unwrap();
    for line in text.lines() {
        gatewatch::output::schema_check::validate_event_line(line)
            .unwrap_or_else(|e| panic!("{rel}: {e}\n{line}"));
    }
    common::parse_lines(&out).unwrap()
}

/// The one event of `kind` whose responder port is `port`.
fn event<'a>(evs: &'a [Value], kind: &str, port: u64) -> &'a Value {
    let found: Vec<&Value> = evs
        .iter()
        .filter(|e| common::is_event(e, kind) && e["dest_port"] == json!(port))
        .collect();
    assert_eq!(found.len(), 1, "one {kind} event to port {port}: {evs:#?}");
    found[0]
}

fn session_is(evs: &[Value], port: u64, tool: &str) -> Value {
    let s = event(evs, "session", port);
    assert_eq!(s["remote_access"]["tool"], json!(tool), "{s}");
    assert_eq!(s["remote_access"]["category"], json!("remote-desktop"));
    s.clone()
}

/// xfreerdp -> xrdp, TLS negotiated.
/// `tshark -r rdp-tls.pcap -T fields -e rdp.rt_cookie
/// -e rdp.negReq.requestedProtocols -e rdp.negReq.selectedProtocol`:
/// `Cookie: mstshash=alice`, 0x00000003, 0x00000001; with
/// `-d tcp.port==3389,tls`: SNI 10.77.0.1 (FreeRDP sends the IP literal),
/// ja3 a3afc2c46ba4a7d7fbe1cfb7a3031c2f.
#[test]
fn xfreerdp_to_xrdp_over_tls() {
    let evs = events("rdp/rdp-tls.pcap");
    let flow = event(&evs, "flow", 3389);
    assert_eq!(flow["app_proto"], json!("rdp"));
    assert_eq!(flow["rdp"]["cookie"], json!("alice"));
    assert_eq!(flow["rdp"]["requested_protocols"], json!(["ssl", "hybrid"]));
    assert_eq!(flow["rdp"]["selected_protocol"], json!("ssl"));
    assert!(flow["rdp"].get("client_name").is_none(), "{flow}");
    assert_eq!(flow["tls"]["sni"], json!("10.77.0.1"));
    assert_eq!(
        flow["tls"]["ja3"],
        json!("a3afc2c46ba4a7d7fbe1cfb7a3031c2f")
    );
    // ServerHello: supported_version 0x0304, cipher 0x1302.
    assert_eq!(flow["tls"]["version"], json!("TLS 1.3"));
    assert_eq!(flow["tls"]["cipher"], json!("0x1302"));
    // CR -> CC and CC -> ClientHello, plus the TLS hello exchange.
    let rtt = &flow["app_rtt"];
    assert!(rtt["client_reply_ms"].is_number() && rtt["server_reply_ms"].is_number());
    let s = session_is(&evs, 3389, "RDP");
    assert_eq!(s["remote_access"]["identity"], json!("alice"));
    assert!(
        evs.iter()
            .any(|e| common::is_event(e, "anomaly")
                && e["anomaly"]["kind"] == json!("sni_ip_literal"))
    );
}

/// xfreerdp /sec:rdp -> xrdp: a legacy Connection Request (no
/// RDP_NEG_REQ), and the MCS Connect-Initial in clear.
/// `tshark -r rdp-sec-rdp.pcap -T fields -e rdp.rt_cookie
/// -e rdp.client.name -e rdp.keyboardLayout -e rdp.client.build`:
/// `Cookie: mstshash=alice`, LABCLIENT, 1033, 18363.
#[test]
fn xfreerdp_standard_rdp_security_shows_client_core_data() {
    let evs = events("rdp/rdp-sec-rdp.pcap");
    let flow = event(&evs, "flow", 3389);
    assert_eq!(flow["app_proto"], json!("rdp"));
    let rdp = &flow["rdp"];
    assert_eq!(rdp["cookie"], json!("alice"));
    assert!(rdp.get("requested_protocols").is_none(), "{rdp}");
    assert!(rdp.get("selected_protocol").is_none(), "{rdp}");
    assert_eq!(rdp["client_name"], json!("LABCLIENT"));
    assert_eq!(rdp["keyboard_layout"], json!(1033));
    assert_eq!(rdp["client_build"], json!(18363));
    assert!(flow.get("tls").is_none());
    let s = session_is(&evs, 3389, "RDP");
    assert_eq!(s["remote_access"]["identity"], json!("alice"));
}

/// TigerVNC vncviewer -> Xtigervnc with VNC authentication.
/// `tshark -r vnc-vncauth.pcap -d tcp.port==5901,vnc -T fields
/// -e vnc.server_proto_ver -e vnc.client_proto_ver -e vnc.server_security_type
/// -e vnc.client_security_type -e vnc.auth_result -e vnc.desktop_name
/// -e vnc.width -e vnc.height`: 003.008, 003.008, 2 (offered: one type),
/// 2, 0 (OK), lab-desktop, 800, 600.
#[test]
fn vncviewer_to_xtigervnc_with_vnc_auth() {
    let evs = events("vnc/vnc-vncauth.pcap");
    let flow = event(&evs, "flow", 5901);
    assert_eq!(flow["app_proto"], json!("vnc"));
    assert_eq!(
        flow["vnc"],
        json!({
            "client_version": "003.008",
            "server_version": "003.008",
            "security_types": [2],
            "security_type": 2,
            "security_type_name": "VNC Authentication",
            "auth_result": "ok",
            "desktop_name": "lab-desktop",
            "width": 800,
            "height": 600
        })
    );
    assert!(flow["app_rtt"]["client_reply_ms"].is_number(), "{flow}");
    session_is(&evs, 5901, "VNC");
}

/// TigerVNC vncviewer -> Xtigervnc with VeNCrypt TLSVnc: the TLS
/// handshake after VeNCrypt's acceptance byte.
/// `tshark -r vnc-tlsvnc.pcap -d tcp.port==5902,vnc` shows the versions
/// 003.008 and security type 19; the payloads (frames 8-14) are
/// `01 13`, `13`, `00 02`, `00 02`, `00 01 00000102`, `00000102`, `01`,
/// then a ClientHello (frame 15).
#[test]
fn vncviewer_to_xtigervnc_with_vencrypt_tls() {
    let evs = events("vnc/vnc-tlsvnc.pcap");
    let flow = event(&evs, "flow", 5902);
    assert_eq!(flow["app_proto"], json!("vnc"));
    let vnc = &flow["vnc"];
    assert_eq!(vnc["client_version"], json!("003.008"));
    assert_eq!(vnc["server_version"], json!("003.008"));
    assert_eq!(vnc["security_types"], json!([19]));
    assert_eq!(vnc["security_type"], json!(19));
    assert_eq!(vnc["vencrypt_subtypes"], json!([258]));
    assert_eq!(vnc["vencrypt_subtype"], json!(258));
    assert_eq!(vnc["security_type_name"], json!("VeNCrypt/TLSVnc"));
    assert!(vnc.get("desktop_name").is_none(), "{vnc}");
    // `-d tcp.port==5902,tls`: ja3 ba0456f2844bf3e621baa7a468883527,
    // ServerHello 0x0303 with cipher 0xc019, ja3s df7d66e84719280f2cedfb33754e6afc.
    assert_eq!(
        flow["tls"]["ja3"],
        json!("ba0456f2844bf3e621baa7a468883527")
    );
    assert_eq!(flow["tls"]["version"], json!("TLS 1.2"));
    assert_eq!(flow["tls"]["cipher"], json!("0xc019"));
    assert_eq!(
        flow["tls"]["ja3s"],
        json!("df7d66e84719280f2cedfb33754e6afc")
    );
    session_is(&evs, 5902, "VNC");
}
