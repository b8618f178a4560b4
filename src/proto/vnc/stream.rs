//! RFB over a TCP stream: the probe and the per-flow state machine.
//!
//! The handshake alternates between the two sides (RFC 6143 §7.1-7.3):
//! each message is an answer to the other side's previous one, so when a
//! side's bytes grow, the message it answers has already been read. The
//! state is the next message expected and a cursor per direction; a feed
//! of the side whose turn it is reads as far as it can.

use super::parser::{
    u32_at, u8_at, ProtocolVersion, RfbError, SecurityOffer, ServerInit, VencryptOffer,
    PROTOCOL_VERSION_LEN,
};
use super::{security, vencrypt_subtype_is_tls, VncRecord, MAX_DESKTOP_NAME, MAX_SECURITY_TYPES};
use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{wire_text, AppSummary, FlowCx, Probe, Progress};
use crate::proto::tls::stream::TlsStream;

const LAYER: &str = "vnc";

/// Does this direction start with a ProtocolVersion message (§7.1.1)?
/// Both sides send one, the server first.
pub fn probe(_cx: &FlowCx, _dir: Direction, bytes: &[u8]) -> Probe {
    match ProtocolVersion::parse(bytes) {
        Ok(_) => Probe::Match,
        Err(RfbError::Incomplete { .. }) => Probe::NeedMore,
        Err(RfbError::Malformed { .. }) => Probe::NoMatch,
    }
}

/// The next message of the handshake.
#[derive(Debug)]
enum Step {
    ServerVersion,
    ClientVersion,
    /// 3.7+: the type list (§7.1.2); 3.3: the server's chosen u32.
    SecurityOffer,
    /// 3.7+: the client's chosen type, one byte.
    ClientChoice,
    /// VNC Authentication (§7.2.2): 16-byte challenge, 16-byte response.
    VncChallenge,
    VncResponse,
    /// VeNCrypt: versions (2 bytes each way), the subtype offer, the
    /// client's u32 choice, and for TLS subtypes the server's acceptance.
    VencryptServerVersion,
    VencryptClientVersion,
    VencryptOffer,
    VencryptChoice,
    VencryptAccept,
    /// SecurityResult (§7.1.3): u32, 0 is OK.
    SecurityResult,
    /// ServerInit (§7.3.2), after the client's one-byte ClientInit.
    ServerInit,
    Tls(TlsStream),
    Over,
}

impl Step {
    /// The side that sends this message.
    fn sender(&self) -> Option<Direction> {
        use Step::*;
        match self {
            ServerVersion
            | SecurityOffer
            | VncChallenge
            | VencryptServerVersion
            | VencryptOffer
            | VencryptAccept
            | SecurityResult
            | ServerInit => Some(Direction::ToClient),
            ClientVersion | ClientChoice | VncResponse | VencryptClientVersion | VencryptChoice => {
                Some(Direction::ToServer)
            }
            Tls(_) | Over => None,
        }
    }
}

/// One flow's RFB parse state.
#[derive(Debug)]
pub struct VncStream {
    step: Step,
    /// Where the next message starts in each direction (`Direction::index`).
    cursor: [usize; 2],
    /// The version in force: the client's (it answers with the version it
    /// will speak, §7.1.1).
    version: Option<ProtocolVersion>,
    server_version_at: Option<Timestamp>,
}

impl Default for VncStream {
    fn default() -> Self {
        VncStream::new()
    }
}

/// What reading one message did.
enum Read {
    /// `n` bytes were read; go on with `next`.
    Took(usize, Step),
    /// Stop here: `step` is final.
    End(Step),
}

impl VncStream {
    pub fn new() -> VncStream {
        VncStream {
            step: Step::ServerVersion,
            cursor: [0, 0],
            version: None,
            server_version_at: None,
        }
    }

    /// The TLS this VNC connection (VeNCrypt, or TLS security) carries, once it started (the dispatcher
    /// forwards per-packet timing to it, for `app_rtt`).
    pub fn inner_tls(&mut self) -> Option<&mut TlsStream> {
        match &mut self.step {
            Step::Tls(t) => Some(t),
            _ => None,
        }
    }

    /// Feed the whole contiguous prefix of `dir`.
    pub fn on_stream(
        &mut self,
        dir: Direction,
        prefix: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> Progress {
        loop {
            match &mut self.step {
                Step::Over => return Progress::Done,
                Step::Tls(tls) => return tls.on_stream(dir, prefix, ts, summary),
                s if s.sender() != Some(dir) => return Progress::NeedMore,
                _ => {}
            }
            let d = dir.index();
            let at = self.cursor.get(d).copied().unwrap_or(0);
            let bytes = prefix.get(at..).unwrap_or_default();
            let step = std::mem::replace(&mut self.step, Step::Over);
            match self.read(step, bytes, ts, summary) {
                Ok(Read::Took(n, next)) => {
                    if let Some(c) = self.cursor.get_mut(d) {
                        *c = at + n;
                    }
                    self.step = match next {
                        // TLS starts after what each side has sent so far.
                        Step::Tls(_) => {
                            Step::Tls(TlsStream::starting_at(self.cursor[0], self.cursor[1]))
                        }
                        s => s,
                    };
                }
                Ok(Read::End(s)) => self.step = s,
                Err((RfbError::Incomplete { .. }, step)) => {
                    self.step = step;
                    return Progress::NeedMore;
                }
                Err((e, _)) => {
                    summary.anomalies.push(
                        LAYER,
                        "malformed_handshake",
                        Some(dir),
                        Some(&e.to_string()),
                        ts,
                    );
                    return Progress::Done;
                }
            }
        }
    }

    /// Read `step`'s message from `b`; on error, the step back with it.
    /// (The error is large because it hands the step back by value; this
    /// runs a few times per flow, so boxing it would buy nothing.)
    #[allow(clippy::result_large_err)]
    fn read(
        &mut self,
        step: Step,
        b: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> Result<Read, (RfbError, Step)> {
        let rec = summary.vnc.get_or_insert_with(VncRecord::default);
        let r = match &step {
            Step::ServerVersion => ProtocolVersion::parse(b).map(|v| {
                rec.server_version = Some(v.digits);
                self.server_version_at = Some(ts);
                Read::Took(PROTOCOL_VERSION_LEN, Step::ClientVersion)
            }),
            Step::ClientVersion => ProtocolVersion::parse(b).map(|v| {
                rec.client_version = Some(v.digits);
                self.version = Some(v);
                if let Some(at) = self.server_version_at {
                    summary.app_rtt.record(Direction::ToServer, at, ts);
                }
                Read::Took(PROTOCOL_VERSION_LEN, Step::SecurityOffer)
            }),
            Step::SecurityOffer => self.security_offer(b, rec),
            Step::ClientChoice => u8_at(b, 0).map(|t| {
                rec.security_type = Some(t);
                Read::Took(1, self.after_choice(t))
            }),
            Step::VncChallenge => need(b, 16).map(|_| Read::Took(16, Step::VncResponse)),
            Step::VncResponse => need(b, 16).map(|_| Read::Took(16, Step::SecurityResult)),
            Step::VencryptServerVersion => {
                need(b, 2).map(|_| Read::Took(2, Step::VencryptClientVersion))
            }
            Step::VencryptClientVersion => need(b, 2).map(|_| Read::Took(2, Step::VencryptOffer)),
            Step::VencryptOffer => VencryptOffer::parse(b).map(|(o, n)| match o {
                VencryptOffer::Subtypes(s) => {
                    rec.vencrypt_subtypes = s
                        .chunks_exact(4)
                        .take(MAX_SECURITY_TYPES)
                        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                    Read::Took(n, Step::VencryptChoice)
                }
                VencryptOffer::Refused => Read::End(Step::Over),
            }),
            Step::VencryptChoice => u32_at(b, 0).map(|t| {
                rec.vencrypt_subtype = Some(t);
                let next = if vencrypt_subtype_is_tls(t) {
                    Step::VencryptAccept
                } else {
                    // Plain sends credentials, then the result comes.
                    Step::SecurityResult
                };
                Read::Took(4, next)
            }),
            Step::VencryptAccept => u8_at(b, 0).map(|ok| {
                if ok == 1 {
                    Read::Took(1, Step::Tls(TlsStream::new()))
                } else {
                    rec.auth_ok = Some(false);
                    Read::End(Step::Over)
                }
            }),
            Step::SecurityResult => u32_at(b, 0).map(|r| {
                rec.auth_ok = Some(r == 0);
                if r == 0 {
                    Read::Took(4, Step::ServerInit)
                } else {
                    Read::End(Step::Over)
                }
            }),
            Step::ServerInit => ServerInit::parse(b, MAX_DESKTOP_NAME).map(|si| {
                rec.width = Some(si.width);
                rec.height = Some(si.height);
                rec.desktop_name = Some(wire_text(si.name, MAX_DESKTOP_NAME));
                Read::End(Step::Over)
            }),
            Step::Tls(_) | Step::Over => Ok(Read::End(Step::Over)),
        };
        r.map_err(|e| (e, step))
    }

    fn security_offer(&self, b: &[u8], rec: &mut VncRecord) -> Result<Read, RfbError> {
        let list = self.version.is_some_and(|v| v.has_type_list());
        if list {
            let (offer, n) = SecurityOffer::parse(b)?;
            return Ok(match offer {
                SecurityOffer::Types(t) => {
                    rec.security_types = t.iter().take(MAX_SECURITY_TYPES).copied().collect();
                    Read::Took(n, Step::ClientChoice)
                }
                // Zero types: the connection failed (a reason follows).
                SecurityOffer::Failed => Read::End(Step::Over),
            });
        }
        // 3.3 (§7.1.2 "Version 3.3"): the server decides, as a u32.
        let t = u32_at(b, 0)?;
        let Ok(t) = u8::try_from(t) else {
            return Err(RfbError::Malformed {
                field: "security_type",
                offset: 0,
                what: "above 255",
            });
        };
        rec.security_type = Some(t);
        Ok(match t {
            security::INVALID => Read::End(Step::Over),
            _ => Read::Took(4, self.after_choice(t)),
        })
    }

    /// The message after the security type is settled.
    fn after_choice(&self, t: u8) -> Step {
        match t {
            security::NONE if self.version.is_some_and(|v| v.result_after_none()) => {
                Step::SecurityResult
            }
            security::NONE => Step::ServerInit,
            security::VNC_AUTH => Step::VncChallenge,
            security::VENCRYPT => Step::VencryptServerVersion,
            // Other types have their own exchanges (Tight, Apple's
            // Diffie-Hellman...): not followed.
            _ => Step::Over,
        }
    }
}

fn need(b: &[u8], n: usize) -> Result<(), RfbError> {
    if b.len() < n {
        Err(RfbError::Incomplete { need: n })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hex;

    fn cx() -> FlowCx {
        FlowCx {
            src_port: 46381,
            dst_port: 5900,
            ip_proto: 6,
        }
    }

    #[test]
    fn probe_wants_a_protocol_version() {
        assert_eq!(
            probe(&cx(), Direction::ToClient, b"RFB 003.0"),
            Probe::NeedMore
        );
        assert_eq!(
            probe(&cx(), Direction::ToClient, b"RFB 003.008\n"),
            Probe::Match
        );
        assert_eq!(
            probe(&cx(), Direction::ToClient, b"SSH-2.0-x\r\n"),
            Probe::NoMatch
        );
        assert_eq!(
            probe(&cx(), Direction::ToServer, b"\x03\x00\x00\x2f"),
            Probe::NoMatch
        );
    }

    /// Feed the two sides of a handshake message by message, as the
    /// capture interleaves them.
    fn run(messages: &[(Direction, &[u8])]) -> (VncStream, AppSummary) {
        let mut s = VncStream::new();
        let mut sum = AppSummary::default();
        let mut streams = [Vec::new(), Vec::new()];
        for (i, (dir, m)) in messages.iter().enumerate() {
            let buf = &mut streams[dir.index()];
            buf.extend_from_slice(m);
            s.on_stream(*dir, buf, Timestamp(i as i64 * 1000), &mut sum);
        }
        (s, sum)
    }

    #[test]
    fn version_3_8_vnc_auth_failed() {
        // zeek vnc-scanner.pcap (Zeek: client/server 003.008, auth VNC,
        // auth_success F).
        let (s, sum) = run(&[
            (Direction::ToClient, b"RFB 003.008\n"),
            (Direction::ToServer, b"RFB 003.008\n"),
            (Direction::ToClient, &[1, 2]),
            (Direction::ToServer, &[2]),
            (Direction::ToClient, &[0x55; 16]),
            (Direction::ToServer, &[0xaa; 16]),
            (Direction::ToClient, &hex("00000001 0000000e")),
        ]);
        let r = sum.vnc.as_ref().unwrap();
        assert_eq!(r.server_version, Some(*b"003.008"));
        assert_eq!(r.client_version, Some(*b"003.008"));
        assert_eq!(r.security_types, [2]);
        assert_eq!(r.security_type, Some(2));
        assert_eq!(r.auth_ok, Some(false));
        assert!(matches!(s.step, Step::Over));
        assert_eq!(sum.app_rtt.client_reply_ns, Some(1000));
    }

    #[test]
    fn version_3_3_server_chooses_then_server_init() {
        let mut init = hex("0400 0300 2018000100ff00ff00ff100800000000 00000004");
        init.extend_from_slice(b"desk");
        let (_, sum) = run(&[
            (Direction::ToClient, b"RFB 003.008\n"),
            (Direction::ToServer, b"RFB 003.003\n"),
            (Direction::ToClient, &hex("00000002")),
            (Direction::ToClient, &[0x55; 16]),
            (Direction::ToServer, &[0xaa; 16]),
            (Direction::ToClient, &hex("00000000")),
            (Direction::ToServer, &[1]),
            (Direction::ToClient, &init),
        ]);
        let r = sum.vnc.as_ref().unwrap();
        assert_eq!(r.security_type, Some(2));
        assert!(r.security_types.is_empty());
        assert_eq!(r.auth_ok, Some(true));
        assert_eq!(r.desktop_name.as_deref(), Some("desk"));
        assert_eq!((r.width, r.height), (Some(1024), Some(768)));
    }

    #[test]
    fn vencrypt_tls_subtype_hands_over_to_tls() {
        let (s, sum) = run(&[
            (Direction::ToClient, b"RFB 003.008\n"),
            (Direction::ToServer, b"RFB 003.008\n"),
            (Direction::ToClient, &[1, 19]),
            (Direction::ToServer, &[19]),
            (Direction::ToClient, &[0, 2]),
            (Direction::ToServer, &[0, 2]),
            (Direction::ToClient, &hex("00 02 00000105 00000102")),
            (Direction::ToServer, &hex("00000105")),
            (Direction::ToClient, &[1]),
        ]);
        let r = sum.vnc.as_ref().unwrap();
        assert_eq!(r.vencrypt_subtypes, [261, 258]);
        assert_eq!(r.vencrypt_subtype, Some(261));
        assert_eq!(r.security_type_name().as_deref(), Some("VeNCrypt/X509Vnc"));
        assert!(matches!(s.step, Step::Tls(_)));
        assert_eq!(s.cursor, [12 + 1 + 2 + 4, 12 + 2 + 2 + 10 + 1]);
    }

    #[test]
    fn garbage_after_the_version_ends_the_flow() {
        let (s, sum) = run(&[
            (Direction::ToClient, b"RFB 003.008\n"),
            (Direction::ToServer, b"RFB 00x.008\n"),
        ]);
        assert!(matches!(s.step, Step::Over));
        assert_eq!(sum.anomalies.kept[0].kind, "malformed_handshake");
    }
}
