//! One worker's analysis state: decoder, flow table, and the events it has
//! produced but not yet handed to the writer.
//!
//! The later stages plug in here, each at one place:
//! - dissectors (`proto`, issue 3) after [`FlowTable::update`]: the
//!   [`PacketVerdict`](crate::flow::table::PacketVerdict) says which
//!   direction's stream prefix grew, [`FlowTable::stream_prefix`] gives the
//!   contiguous bytes, datagram payloads are `Packet::payload`, and per-flow
//!   protocol state lives in `Flow::app`;
//! - enrichment (`enrich`, issue 4) and detection (`detect`, issue 5) on each
//!   finished [`FlowSummary`] in `emit_finished`, before it is serialised.

use crate::capture::{Frame, Timestamp};
use crate::decode::Decoder;
use crate::decode::{Packet, Transport};
use crate::detect::{HostFacts, SessionFacts};
use crate::enrich::Enricher;
use crate::flow::table::{FlowTable, PacketVerdict};
use crate::flow::{Direction, FlowSummary};
use crate::output;
use crate::pipeline::{DetectItem, EventKey, KeyedEvent, PipelineConfig};
use crate::proto::app::MAX_REMOTE_NAMES;
use crate::proto::dns::{self, NameCache};
use crate::proto::{AppSummary, FlowCx};
use crate::site::SiteNetworks;

/// Phase of an event within one sequence step: expiries found by a tick come
/// before the events of the packet that follows, and end-of-input flushes
/// come last.
pub(crate) const PHASE_TICK: u8 = 0;
pub(crate) const PHASE_PACKET: u8 = 1;
pub(crate) const PHASE_FLUSH: u8 = 2;

pub struct Engine {
    pub(crate) decoder: Decoder,
    pub(crate) table: FlowTable,
    site: SiteNetworks,
    /// GeoIP databases and site lists, with this worker's cache.
    enricher: Option<Enricher>,
    /// Which product a remote-access flow is.
    catalogue: std::sync::Arc<crate::catalogue::Catalogue>,
    /// Address -> names from the DNS responses of every shard, in capture
    /// order (see `learn_names`).
    names: NameCache,
    /// Reused scratch list of finished flows for one step.
    finished: Vec<FlowSummary>,
    /// Events ready for the writer, in key order.
    pub(crate) events: Vec<KeyedEvent>,
    /// Run the dissectors.
    dissect: bool,
}

impl Engine {
    pub fn new(config: &PipelineConfig, workers: usize) -> Engine {
        let mut flow = config.flow.clone();
        // The capacity and the memcap are totals for the run: each worker
        // holds its share.
        flow.capacity = flow.capacity.div_ceil(workers).max(1);
        flow.reassembly_memcap = flow.reassembly_memcap.div_ceil(workers);
        Engine {
            decoder: Decoder::new(config.decode.clone()),
            table: FlowTable::new(flow),
            site: config.site.clone(),
            enricher: config
                .enrich
                .as_ref()
                .map(|shared| Enricher::new(shared.clone(), config.enrich_cache)),
            catalogue: config.catalogue.clone(),
            names: NameCache::new(config.dns_cache),
            finished: Vec::new(),
            events: Vec::new(),
            dissect: config.dissect,
        }
    }

    /// Process one frame, the `seq`-th item of the run.
    pub fn on_frame(&mut self, seq: u64, frame: &Frame<'_>) {
        self.learn_names(frame);
        // Matched by reference: moving the packet out of the `Option` would
        // copy it (136 bytes) once more per frame.
        let decoded = self.decoder.decode(frame);
        let Some(pkt) = &decoded else {
            return;
        };
        if let Some(verdict) = self.table.update(pkt, &mut self.finished) {
            if self.dissect && !pkt.payload.is_empty() {
                dissect(&mut self.table, verdict, pkt);
            }
        }
        self.emit_finished(seq, PHASE_PACKET);
    }

    /// A frame of another worker's shard (the `seq`-th item of the run):
    /// only its DNS answers are learned, so that every worker's name cache
    /// holds the same names at the same point of the run.
    pub fn on_other_shard_frame(&mut self, _seq: u64, frame: &Frame<'_>) {
        self.learn_names(frame);
    }

    /// Does this frame carry a DNS response over UDP (that every worker
    /// must see)? Stateless: the same answer in every worker.
    pub fn is_dns_response(frame: &Frame<'_>) -> bool {
        crate::decode::stateless_udp_from(frame, dns::stream::PORT)
            .and_then(|p| dns::Message::new(p).ok())
            .is_some_and(|m| m.is_response() && m.ancount() > 0)
    }

    /// Feed the name cache from a UDP DNS response. Taken from the raw
    /// frame without the decoder's state (no fragment reassembly), so the
    /// owner of the frame's flow and every other worker learn exactly the
    /// same names. DNS over TCP is dissected but not learned from: only
    /// the owning worker sees its stream.
    fn learn_names(&mut self, frame: &Frame<'_>) {
        if self.names.capacity() == 0 {
            return;
        }
        let Some(payload) = crate::decode::stateless_udp_from(frame, dns::stream::PORT) else {
            return;
        };
        if let Ok(m) = dns::Message::new(payload) {
            self.names.learn(&m);
        }
    }

    /// Capture time reached `now` (a tick, the `seq`-th item of the run).
    pub fn on_tick(&mut self, seq: u64, now: Timestamp) {
        self.table.expire(now, &mut self.finished);
        self.emit_finished(seq, PHASE_TICK);
    }

    /// Use these site networks for the flows that end from now on.
    pub fn set_site(&mut self, site: &SiteNetworks) {
        self.site = site.clone();
    }

    /// Identify the flows that end from now on with this catalogue.
    pub fn set_catalogue(&mut self, catalogue: std::sync::Arc<crate::catalogue::Catalogue>) {
        self.catalogue = catalogue;
    }

    /// End of input: every remaining flow is emitted.
    pub fn finish(&mut self) {
        self.table.flush(&mut self.finished);
        self.emit_finished(u64::MAX, PHASE_FLUSH);
    }

    /// Hand out the events produced so far, in key order.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, KeyedEvent> {
        self.events.drain(..)
    }

    /// Enrichment cache counters of this engine.
    pub fn enrich_stats(&self) -> crate::enrich::cache::CacheStats {
        self.enricher
            .as_ref()
            .map(|e| e.cache_stats())
            .unwrap_or_default()
    }

    /// Decoder and flow-table counters of this engine.
    pub fn counters(
        &self,
    ) -> (
        &crate::decode::DecodeCounters,
        crate::flow::table::FlowTableStats,
    ) {
        (&self.decoder.counters, self.table.stats())
    }

    /// Turn the flows finished in this step into events, ordered by flow id
    /// so that the order never depends on table layout or worker count.
    fn emit_finished(&mut self, seq: u64, phase: u8) {
        if self.finished.is_empty() {
            return;
        }
        self.finished
            .sort_unstable_by_key(|f| (f.flow_id, f.start, f.endpoints.src_port));
        for mut flow in self.finished.drain(..) {
            name_remote_end(&self.names, &self.site, &mut flow);
            if let Some(app) = flow.app.as_deref_mut() {
                if app.remote_access.is_none() {
                    app.remote_access = crate::proto::classify::by_protocol(app);
                }
                // The catalogue's product refines the protocol reading.
                let ep = &flow.endpoints;
                let cx = FlowCx {
                    src_port: ep.src_port,
                    dst_port: ep.dst_port,
                    ip_proto: ep.ip_proto,
                };
                let names = std::mem::take(&mut app.remote_names);
                let product = self.catalogue.identify(app, &cx, &names);
                app.remote_names = names;
                if product.is_some() {
                    app.remote_access = crate::catalogue::refine(app.remote_access.take(), product);
                }
            }
            let mut line = Vec::with_capacity(512);
            let ep = &flow.endpoints;
            // Once per flow, from the worker's cache: never per packet.
            let remote = match (
                &mut self.enricher,
                self.site.remote_end(ep.src_ip, ep.dst_ip),
            ) {
                (Some(e), Some(ip)) => Some((ip, e.remote(ip))),
                _ => None,
            };
            let remote = remote
                .as_ref()
                .map(|(ip, info)| output::Remote { ip: *ip, info });
            output::write_flow_event_enriched(&mut line, &flow, &self.site, remote);
            let detect = detect_item(&flow, &self.site, remote, &mut line);
            self.events.push(KeyedEvent {
                key: EventKey {
                    seq,
                    phase,
                    tiebreak: flow.flow_id,
                },
                line,
                detect,
            });
        }
    }
}

/// The detector's part of a finished flow: a session's facts with its
/// event (and the anomaly lines, which follow it), or a DHCP host name.
/// Anything else has none, and its anomaly lines go into `line`.
fn detect_item(
    flow: &FlowSummary,
    site: &SiteNetworks,
    remote: Option<output::Remote<'_>>,
    line: &mut Vec<u8>,
) -> Option<Box<DetectItem>> {
    let facts = SessionFacts::of_flow(flow, site, remote.map(|r| r.info));
    let parts = facts
        .as_ref()
        .and_then(|_| output::alert_json::session_parts(flow, site, remote));
    if let (Some(facts), Some(parts)) = (facts, parts) {
        let mut after = Vec::new();
        output::app_json::write_anomaly_events(&mut after, flow, site);
        return Some(Box::new(DetectItem::Session {
            facts: Box::new(facts),
            parts,
            after,
        }));
    }
    output::app_json::write_anomaly_events(line, flow, site);
    HostFacts::of_flow(flow).map(|h| Box::new(DetectItem::Host(h)))
}

/// `remote_names`: what the DNS answers so far said the flow's far end
/// (or, without one, its responder) is called.
fn name_remote_end(cache: &NameCache, site: &SiteNetworks, flow: &mut FlowSummary) {
    {
        let ep = &flow.endpoints;
        let far = site.remote_end(ep.src_ip, ep.dst_ip).unwrap_or(ep.dst_ip);
        let names = cache.lookup(far);
        if names.is_empty() {
            return;
        }
        let app = flow.app.get_or_insert_with(Box::<AppSummary>::default);
        app.remote_names = names
            .iter()
            .take(MAX_REMOTE_NAMES)
            .map(|n| n.to_string())
            .collect();
    }
}

/// Show a packet with payload to its flow's dissectors, and free the
/// stream buffers they no longer want.
fn dissect(table: &mut FlowTable, v: PacketVerdict, pkt: &Packet<'_>) {
    let Some((slot, [prefix, other], ep)) = table.app_parts(v.flow, v.dir) else {
        return;
    };
    // One allocation per flow, at its first payload.
    let state = slot.0.get_or_insert_with(Box::default);
    if state.is_idle() {
        return;
    }
    let cx = FlowCx {
        src_port: ep.src_port,
        dst_port: ep.dst_port,
        ip_proto: ep.ip_proto,
    };
    let mut release = [false; 2];
    match pkt.transport {
        Transport::Tcp(_) if v.stream_grew => {
            let wants = state.on_stream(&cx, v.dir, prefix, other, pkt.ts);
            release = wants.keep.map(|k| !k);
        }
        Transport::Udp { .. } => state.on_datagram(&cx, v.dir, pkt.payload, pkt.ts),
        _ => {}
    }
    state.on_packet(v.dir, pkt.payload.len(), pkt.ts);
    for (dir, free) in [Direction::ToServer, Direction::ToClient]
        .into_iter()
        .zip(release)
    {
        if free {
            table.release_prefix(v.flow, dir);
        }
    }
}
