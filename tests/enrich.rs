//! Enrichment end to end: site lists (and, where loaded, GeoIP databases)
//! on the far end of real flows, validated against the flow schema.

use std::path::PathBuf;

mod common;

use gatewatch::enrich::lists::SiteLists;
use gatewatch::enrich::{EnrichSources, SharedSources};
use gatewatch::pipeline::{run_files, PipelineConfig};

fn events(files: &[PathBuf], sources: EnrichSources, workers: usize) -> Vec<serde_json::Value> {
    let config = PipelineConfig {
        workers,
        enrich: Some(SharedSources::new(sources)),
        ..PipelineConfig::default()
    };
    let mut out = Vec::new();
    let outcome = run_files(files, &config, &mut out).unwrap();
    assert!(outcome.error.is_none());
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            gatewatch::output::schema_check::validate_event_line(l).unwrap();
            serde_json::from_str(l).unwrap()
        })
        .collect()
}

/// nDPI's vnc.pcap: two VNC sessions from 95.237.48.208 (outside) to
/// 192.168.2.110:6900 (site, RFC 1918), as tshark's conversation table
/// shows. A list naming the client's /24 labels exactly those flows.
#[test]
fn site_list_labels_the_far_end() {
    let Some(vnc) = common::corpus_file("enrich", "ndpi/pcap/vnc.pcap") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("gatewatch-enrich-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("contractor-homes.csv");
    std::fs::write(
        &list,
        "network,label,contractor\n95.237.48.0/24,home-isp,alice\n203.0.113.0/24,other,bob\n",
    )
    .unwrap();
    let lists = SiteLists::load_all(&[list]).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    for workers in [1, 2] {
        let ev = events(
            std::slice::from_ref(&vnc),
            EnrichSources {
                lists: lists.clone(),
                ..EnrichSources::default()
            },
            workers,
        );
        let flows: Vec<_> = ev.iter().filter(|e| e["event_type"] == "flow").collect();
        let vnc_flows: Vec<_> = flows.iter().filter(|e| e["dest_port"] == 6900).collect();
        assert_eq!(vnc_flows.len(), 2, "two VNC sessions");
        for f in &vnc_flows {
            assert_eq!(f["direction"], "inbound");
            assert_eq!(
                f["labels"],
                serde_json::json!([{
                    "list": "contractor-homes",
                    "label": "home-isp",
                    "network": "95.237.48.0/24",
                    "attributes": {"contractor": "alice"}
                }])
            );
            // No GeoIP database was given: no geo object.
            assert!(f.get("geo").is_none());
        }
        // Flows whose far end no list holds carry no labels.
        for f in flows.iter().filter(|e| e["dest_port"] != 6900) {
            assert!(f.get("labels").is_none(), "{f}");
        }
    }
}

/// The embedded demo databases on the same trace: the client's record in
/// geoip/source/ (city.json, asn.json, connection-type.json, the entry for
/// 95.224.0.0/11: Telecom Italia, Milan) appears as `geo`, and the
/// Anonymous-IP database, which does not list it, says "not anonymous".
#[test]
fn demo_geoip_on_the_far_end() {
    let Some(vnc) = common::corpus_file("enrich", "ndpi/pcap/vnc.pcap") else {
        return;
    };
    let opts = gatewatch::enrich::setup::EnrichOptions::default();
    let built = opts.build().unwrap();
    let ev = events(std::slice::from_ref(&vnc), built.sources, 1);
    let f = ev
        .iter()
        .find(|e| e["event_type"] == "flow" && e["dest_port"] == 6900)
        .unwrap();
    let geo = &f["geo"];
    assert_eq!(geo["ip"], "95.237.48.208");
    assert_eq!(geo["country_iso"], "IT");
    assert_eq!(geo["city"], "Milan");
    assert_eq!(geo["asn"], 3269);
    assert_eq!(geo["as_org"], "Telecom Italia S.p.A.");
    assert_eq!(geo["connection_type"], "Cable/DSL");
    assert_eq!(geo["time_zone"], "Europe/Rome");
    assert_eq!(geo["anonymizer"]["is_anonymous"], false);
    assert_eq!(geo["anonymizer"]["is_tor_exit_node"], false);
    // The stats event names the databases and counts the cache: two flows
    // to the same far end are one miss and one hit.
    let stats = &ev.last().unwrap()["stats"]["enrichment"];
    assert_eq!(stats["databases"].as_array().unwrap().len(), 4);
    assert_eq!(stats["cache"]["misses"], 1);
    assert_eq!(stats["cache"]["hits"], 1);
}
