//! Catalogue unit tests: the embedded file loads, bad entries are refused
//! with the field named, and identification follows the evidence.

use super::*;
use crate::proto::tls::TlsRecord;

fn tcp(dst_port: u16) -> FlowCx {
    FlowCx {
        src_port: 50000,
        dst_port,
        ip_proto: 6,
    }
}

#[test]
fn embedded_catalogue_parses_and_names_sources() {
    let c = Catalogue::try_embedded().unwrap();
    assert!(c.tools().len() >= 150, "{} tools", c.tools().len());
    for e in c.entries() {
        assert!(e.source.starts_with("http"), "{}", e.tool);
    }
    for t in [
        "TeamViewer",
        "AnyDesk",
        "RustDesk",
        "Tailscale",
        "Citrix HDX",
        "Apache Guacamole",
    ] {
        assert!(c.tools().iter().any(|x| x.name == t), "{t} missing");
    }
}

fn err(text: &str) -> CatalogueError {
    Catalogue::from_toml(text, "site.toml").unwrap_err()
}

const OK: &str = "tool = \"X\"\ncategory = \"rmm\"\nsource = \"https://example.org\"\n";

#[test]
fn bad_entries_name_the_field() {
    let e = err(&format!("[[entry]]\n{OK}ports = [\"tcp/0\"]\n"));
    assert_eq!(e.field, Some("ports"));
    assert_eq!(e.entry, Some((0, "X".into())));
    assert!(
        e.to_string()
            .starts_with("site.toml: entry 0 (\"X\"): field `ports`: expected tcp/PORT"),
        "{e}"
    );
    assert_eq!(
        err(&format!("[[entry]]\n{OK}ports = [\"tcp/1-2000\"]\n")).field,
        Some("ports")
    );
    assert_eq!(
        err(&format!("[[entry]]\n{OK}names = [\"*.com\"]\n")).field,
        Some("names")
    );
    assert_eq!(
        err(&format!("[[entry]]\n{OK}names = [\"a b.com\"]\n")).field,
        Some("names")
    );
    assert_eq!(
        err(&format!("[[entry]]\n{OK}ja3 = [\"xyz\"]\n")).field,
        Some("ja3")
    );
    assert_eq!(
        err(&format!(
            "[[entry]]\n{OK}ja4 = [\"t13d1516h2_8daaf6152771\"]\n"
        ))
        .field,
        Some("ja4")
    );
    assert_eq!(
        err(&format!("[[entry]]\n{OK}cert = [\"ab\"]\n")).field,
        Some("cert")
    );
    assert_eq!(err(&format!("[[entry]]\n{OK}")).field, Some("names"));
    let p = |body: &str| err(&format!("[[entry]]\n{OK}[[entry.payload]]\n{body}\n")).field;
    assert_eq!(
        p("transport = \"sctp\"\nhex = \"00\""),
        Some("payload.transport")
    );
    assert_eq!(p("transport = \"tcp\"\nhex = \"0g\""), Some("payload.hex"));
    assert_eq!(p("transport = \"tcp\"\nhex = \"+f\""), Some("payload.hex"));
    assert_eq!(
        p("transport = \"tcp\"\noffset = 15\nhex = \"0000\""),
        Some("payload.hex")
    );
    assert_eq!(
        p("transport = \"tcp\"\ndir = \"up\"\nhex = \"00\""),
        Some("payload.dir")
    );
    let e = err("[[entry]]\ntool = \"X\"\ncategory = \"desktop\"\nsource = \"https://e.org\"\nnames = [\"a.b\"]\n");
    assert_eq!(e.field, Some("category"));
    assert!(
        e.to_string().contains("remote-desktop, remote-shell"),
        "{e}"
    );
    let e = err(
        "[[entry]]\ntool = \"X\"\ncategory = \"rmm\"\nsource = \"ftp://e\"\nnames = [\"a.b\"]\n",
    );
    assert_eq!(e.field, Some("source"));
    // An unknown key or a missing one is the TOML layer's error, with its
    // line and column.
    let e = err(&format!("[[entry]]\n{OK}name = [\"a.b\"]\n"));
    assert!(e.to_string().contains("unknown field `name`"), "{e}");
    assert!(err("[[entry]]\ntool = \"X\"\n")
        .to_string()
        .contains("missing field"));
}

#[test]
fn a_tool_keeps_one_category() {
    let text = format!(
        "[[entry]]\n{OK}names = [\"a.example\"]\n[[entry]]\ntool = \"X\"\ncategory = \"vpn\"\nsource = \"https://e.org\"\nnames = [\"b.example\"]\n"
    );
    let e = err(&text);
    assert_eq!(
        (e.entry, e.field),
        (Some((1, "X".into())), Some("category"))
    );
}

fn with_sni(sni: &str) -> AppSummary {
    AppSummary {
        tls: Some(TlsRecord {
            sni: Some(sni.into()),
            ..TlsRecord::default()
        }),
        ..AppSummary::default()
    }
}

#[test]
fn names_match_exactly_or_below_a_suffix() {
    let c = Catalogue::from_toml(
        &format!("[[entry]]\n{OK}names = [\"*.anydesk.com\", \"boot.example.net\"]\n"),
        "t",
    )
    .unwrap();
    let hit = c
        .identify(&with_sni("relay-1.net.AnyDesk.com."), &tcp(443), &[])
        .unwrap();
    assert_eq!(hit.tool.as_deref(), Some("X"));
    assert_eq!(hit.category, Some("rmm"));
    assert_eq!(hit.evidence, ["sni:*.anydesk.com"]);
    assert_eq!(c.identify(&with_sni("anydesk.com"), &tcp(443), &[]), None);
    assert_eq!(
        c.identify(&with_sni("notanydesk.com"), &tcp(443), &[]),
        None
    );
    assert_eq!(
        c.identify(&with_sni("x.boot.example.net"), &tcp(443), &[]),
        None
    );
    let dns = c.identify(
        &AppSummary::default(),
        &tcp(443),
        &["boot.example.net".into()],
    );
    assert_eq!(dns.unwrap().evidence, ["dns:boot.example.net"]);
}

#[test]
fn stronger_evidence_wins_over_a_port() {
    let text = "[[entry]]\ntool = \"P\"\ncategory = \"rmm\"\nsource = \"https://e.org\"\nports = [\"tcp/443\"]\n\
                [[entry]]\ntool = \"N\"\ncategory = \"vpn\"\nsource = \"https://e.org\"\nnames = [\"*.n.example\"]\n";
    let c = Catalogue::from_toml(text, "t").unwrap();
    let hit = c
        .identify(&with_sni("a.n.example"), &tcp(443), &[])
        .unwrap();
    assert_eq!(hit.tool.as_deref(), Some("N"));
    let port_only = c
        .identify(&with_sni("other.example"), &tcp(443), &[])
        .unwrap();
    assert_eq!(
        (port_only.tool.as_deref(), port_only.evidence),
        (Some("P"), vec!["port:tcp/443".to_owned()])
    );
}

#[test]
fn embedded_teamviewer_framing_and_port() {
    // First bytes of nDPI corpus teamviewer.pcap, flow 10.0.2.15:35732 ->
    // 162.250.2.170:5938 (tshark: 17 24 0a 20 ... / 11 30 36 00 ...).
    let c = Catalogue::embedded();
    let mut app = AppSummary::default();
    app.first_bytes
        .fill(Direction::ToServer, &[0x17, 0x24, 0x0a, 0x20, 0, 0]);
    app.first_bytes
        .fill(Direction::ToClient, &[0x11, 0x30, 0x36, 0x00, 0x18]);
    let hit = c.identify(&app, &tcp(5938), &[]).unwrap();
    assert_eq!(hit.tool.as_deref(), Some("TeamViewer"));
    assert_eq!(
        hit.evidence,
        [
            "payload:tcp/to_server@0:1724",
            "payload:tcp/to_client@0:1130",
            "port:tcp/5938"
        ]
    );
}

#[test]
fn embedded_certificate_names() {
    let c = Catalogue::embedded();
    let app = AppSummary {
        tls: Some(TlsRecord {
            cert_subject: Some("C=DE, O=philandro Software GmbH, CN=AnyNet Relay".into()),
            ..TlsRecord::default()
        }),
        ..AppSummary::default()
    };
    let hit = c.identify(&app, &tcp(80), &[]).unwrap();
    assert_eq!(hit.tool.as_deref(), Some("AnyDesk"));
    assert_eq!(
        hit.evidence,
        ["cert:cn=anynet relay", "cert:o=philandro software gmbh"]
    );
}

#[test]
fn refine_keeps_protocol_evidence_and_identity() {
    let base = RemoteAccess {
        tool: Some("RDP".into()),
        category: Some("remote-desktop"),
        evidence: vec!["protocol:rdp".into()],
        identity: Some("alice".into()),
    };
    let product = RemoteAccess {
        tool: Some("RD Gateway".into()),
        category: Some("enterprise-access"),
        evidence: vec!["port:udp/3391".into()],
        identity: None,
    };
    let r = refine(Some(base), Some(product)).unwrap();
    assert_eq!(r.tool.as_deref(), Some("RD Gateway"));
    assert_eq!(r.evidence, ["protocol:rdp", "port:udp/3391"]);
    assert_eq!(r.identity.as_deref(), Some("alice"));
    assert_eq!(refine(None, None), None);
}
