//! The clear-text key exchange of an SSH connection, message by message,
//! for the application-layer round trips (`app_rtt`, issue 5's
//! `relayed_session`).
//!
//! After KEXINIT each side sends its key-exchange messages in clear until
//! SSH_MSG_NEWKEYS (RFC 4253 §7.3); everything after is encrypted. A
//! [`KexWalk`] steps over one direction's binary packets (§6) from the end
//! of the identification string to its NEWKEYS, noting for each message
//! when its first byte and its last byte reached the sensor. [`KexPairs`]
//! then pairs messages that are strict replies: the replier cannot send
//! its message before it has received the other side's, and needs no
//! user action to do so.
//!
//! Pairs measured:
//! - server replies: KEX_ECDH_INIT / KEXDH_INIT 30 -> KEX_ECDH_REPLY /
//!   KEXDH_REPLY 31 (RFC 5656 §4, RFC 4253 §8); KEX_DH_GEX_REQUEST 34 (or
//!   REQUEST_OLD 30) -> KEX_DH_GEX_GROUP 31; KEX_DH_GEX_INIT 32 ->
//!   KEX_DH_GEX_REPLY 33 (RFC 4419 §3). The server computes its share and
//!   signs the exchange hash: with post-quantum methods
//!   (sntrup761x25519, mlkem768x25519) that is milliseconds, not
//!   microseconds.
//! - client replies: KEX_DH_GEX_GROUP 31 -> KEX_DH_GEX_INIT 32 (the client
//!   needs the group to compute `e`); the server's last key-exchange
//!   message (31 KEXDH/ECDH reply, 33 GEX reply) -> the client's NEWKEYS
//!   21 (the client needs the server's share and signature to derive the
//!   keys, §7.3). The client verifies the host key in between: a host key
//!   it has never seen can stop it at a prompt (RFC 4251 §4.1), so this
//!   pair is only a path measurement when the key was known.
//!
//! Not measured: banner -> KEXINIT (a client may send its KEXINIT before
//! it has read the server's banner or KEXINIT, RFC 4253 §7.1); the server's
//! KEXINIT -> the client's first key-exchange message (strict unless the
//! client guessed, but the client generates its ephemeral key in between:
//! ~44 ms for sntrup761x25519 in tests/pcap/ssh). Encrypted packets give no
//! strict pairs either: their message numbers cannot be read, the client
//! may pipeline SERVICE_REQUEST and USERAUTH_REQUEST after its NEWKEYS
//! without waiting for an answer, authentication waits on the user
//! (passwords, passphrases, security keys) and channel data is typing.

use super::parser::{BinaryPacket, MessageType, SshError};
use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::AppRtt;

/// Packets a direction sends from its banner to NEWKEYS that we step over
/// (a few SSH_MSG_IGNORE, KEXINIT, at most four key-exchange messages);
/// a direction that has not sent NEWKEYS by then is given up.
pub const MAX_KEX_PACKETS: u8 = 16;

/// Key-exchange message numbers (RFC 4250 §4.1.2, RFC 4419 §5, RFC 5656 §7.1).
pub mod msg {
    /// KEXDH_INIT, KEX_ECDH_INIT, or KEX_DH_GEX_REQUEST_OLD.
    pub const KEX_INIT_30: u8 = 30;
    /// KEXDH_REPLY, KEX_ECDH_REPLY, or KEX_DH_GEX_GROUP.
    pub const KEX_REPLY_31: u8 = 31;
    pub const GEX_INIT: u8 = 32;
    pub const GEX_REPLY: u8 = 33;
    pub const GEX_REQUEST: u8 = 34;
    pub const NEWKEYS: u8 = super::MessageType::NEWKEYS.0;
}

/// One clear-text message of a direction, with its timing at the sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KexMessage {
    /// Message number; `None` for an empty payload.
    pub code: Option<u8>,
    /// Capture time of the segment that brought its first byte.
    pub started: Timestamp,
    /// Capture time of the segment that completed it.
    pub complete: Timestamp,
}

/// One direction's walk over its clear-text packets, fed the whole
/// contiguous prefix each time it grows. Each packet is read once.
#[derive(Debug, Clone, Copy, Default)]
pub struct KexWalk {
    /// Stream offset of the next unread packet (`None` until the banner's
    /// end is known).
    next: Option<usize>,
    /// When the first byte at `next` arrived.
    next_started: Option<Timestamp>,
    packets: u8,
    done: bool,
}

impl KexWalk {
    /// Start after the identification string (`banner_end`, the offset
    /// after its LF).
    pub fn start_at(&mut self, banner_end: usize) {
        if self.next.is_none() && !self.done {
            self.next = Some(banner_end);
        }
    }

    /// The banner's end is known (or the walk is over).
    pub fn is_started(&self) -> bool {
        self.next.is_some() || self.done
    }

    /// Nothing more to read: NEWKEYS came, or the walk gave up.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Give up (not SSH-2, or the side's start was malformed).
    pub fn stop(&mut self) {
        self.done = true;
    }

    /// Read the packets completed by the segment of time `ts` that grew
    /// `prefix`, handing each to `each`. Stops after NEWKEYS.
    pub fn feed(
        &mut self,
        prefix: &[u8],
        ts: Timestamp,
        mut each: impl FnMut(KexMessage),
    ) -> Result<(), SshError> {
        while !self.done {
            let Some(at) = self.next else {
                return Ok(());
            };
            let Some(rest) = prefix.get(at..).filter(|r| !r.is_empty()) else {
                return Ok(());
            };
            let started = *self.next_started.get_or_insert(ts);
            let pkt = match BinaryPacket::new_checked(rest, at) {
                Ok(p) => p,
                Err(SshError::Incomplete { .. }) => return Ok(()),
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            };
            // Within MAX_PACKET_LEN, so this cannot overflow a usize.
            self.next = at.checked_add(pkt.wire_len());
            self.next_started = None;
            self.packets = self.packets.saturating_add(1);
            let code = pkt.message_type().map(|m| m.0);
            each(KexMessage {
                code,
                started,
                complete: ts,
            });
            if code == Some(msg::NEWKEYS) || self.packets >= MAX_KEX_PACKETS || self.next.is_none()
            {
                self.done = true;
            }
        }
        Ok(())
    }
}

/// The key-exchange message each side is waiting to see answered.
#[derive(Debug, Clone, Copy, Default)]
pub struct KexPairs {
    /// The client's last request (30, 32, 34) and when it was complete.
    client_request: Option<(u8, Timestamp)>,
    /// The server's last message a client must answer (31, 33) and when
    /// it was complete.
    server_request: Option<(u8, Timestamp)>,
}

impl KexPairs {
    /// One message of `dir` (its sender's direction): record it in `rtt`
    /// if it answers the other side's pending message, and remember it if
    /// it is one the other side must answer.
    pub fn on_message(&mut self, dir: Direction, m: KexMessage, rtt: &mut AppRtt) {
        let Some(code) = m.code else { return };
        match dir {
            Direction::ToClient => {
                if let Some((req, at)) = self.client_request {
                    if server_answers(req, code) {
                        self.client_request = None;
                        rtt.record(Direction::ToClient, at, m.started);
                    }
                }
                if code == msg::KEX_REPLY_31 || code == msg::GEX_REPLY {
                    self.server_request = Some((code, m.complete));
                }
            }
            Direction::ToServer => {
                if let Some((req, at)) = self.server_request {
                    if client_answers(req, code) {
                        self.server_request = None;
                        rtt.record(Direction::ToServer, at, m.started);
                    }
                }
                if matches!(code, msg::KEX_INIT_30 | msg::GEX_INIT | msg::GEX_REQUEST) {
                    self.client_request = Some((code, m.complete));
                }
            }
        }
    }
}

/// The server cannot send `reply` before it has the client's `request`:
/// the DH/ECDH reply needs the client's share (RFC 4253 §8, RFC 5656
/// §4), the GEX group the client's size request, the GEX reply the
/// client's `e` (RFC 4419 §3).
fn server_answers(request: u8, reply: u8) -> bool {
    matches!(
        (request, reply),
        (msg::KEX_INIT_30 | msg::GEX_REQUEST, msg::KEX_REPLY_31) | (msg::GEX_INIT, msg::GEX_REPLY)
    )
}

/// The client cannot send `reply` before it has the server's `request`:
/// GEX_INIT needs the group (RFC 4419 §3); NEWKEYS needs the server's
/// share and signature, the last key-exchange message (RFC 4253 §7.3).
fn client_answers(request: u8, reply: u8) -> bool {
    matches!(
        (request, reply),
        (msg::KEX_REPLY_31, msg::GEX_INIT) | (msg::KEX_REPLY_31 | msg::GEX_REPLY, msg::NEWKEYS)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ssh::parser::tests::curve25519_server_stream;

    fn t(us: i64) -> Timestamp {
        Timestamp(us * 1000)
    }

    /// An unencrypted packet with `payload` and 4 bytes of padding.
    fn packet(payload: &[u8]) -> Vec<u8> {
        let len = (1 + payload.len() + 4) as u32;
        let mut p = len.to_be_bytes().to_vec();
        p.push(4);
        p.extend_from_slice(payload);
        p.extend_from_slice(&[0; 4]);
        p
    }

    #[test]
    fn walk_reads_the_corpus_server_start_once() {
        // zeek ssh_kex_curve25519.pcap server: banner (21 bytes), KEXINIT.
        let s = curve25519_server_stream();
        let mut w = KexWalk::default();
        w.start_at(21);
        let mut seen = Vec::new();
        w.feed(&s[..100], t(1), |m| seen.push(m)).unwrap();
        assert!(seen.is_empty());
        w.feed(&s, t(2), |m| seen.push(m)).unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].code, Some(20));
        assert_eq!((seen[0].started, seen[0].complete), (t(1), t(2)));
        assert!(!w.is_done());
        // Fed again with nothing new: nothing read twice.
        w.feed(&s, t(3), |m| seen.push(m)).unwrap();
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn walk_stops_at_newkeys_and_on_garbage() {
        let mut s = packet(&[30, 1, 2]);
        s.extend(packet(&[21]));
        s.extend_from_slice(&[0xff; 40]); // encrypted
        let mut w = KexWalk::default();
        w.start_at(0);
        let mut codes = Vec::new();
        w.feed(&s, t(1), |m| codes.push(m.code)).unwrap();
        assert_eq!(codes, [Some(30), Some(21)]);
        assert!(w.is_done());
        let mut w = KexWalk::default();
        w.start_at(0);
        assert!(matches!(
            w.feed(&[0xff; 40], t(1), |_| {}),
            Err(SshError::Malformed { .. })
        ));
        assert!(w.is_done());
    }

    #[test]
    fn pairs_follow_the_gex_exchange() {
        let mut p = KexPairs::default();
        let mut rtt = AppRtt::default();
        let m = |code: u8, started: i64, complete: i64| KexMessage {
            code: Some(code),
            started: t(started),
            complete: t(complete),
        };
        p.on_message(Direction::ToServer, m(34, 0, 0), &mut rtt);
        p.on_message(Direction::ToClient, m(31, 300, 310), &mut rtt); // group
        p.on_message(Direction::ToServer, m(32, 500, 500), &mut rtt); // 190 us
        p.on_message(Direction::ToClient, m(33, 900, 950), &mut rtt);
        p.on_message(Direction::ToClient, m(21, 950, 950), &mut rtt);
        p.on_message(Direction::ToServer, m(21, 1100, 1100), &mut rtt); // 150 us
        assert_eq!(rtt.client_reply_ns, Some(150_000));
        assert_eq!(rtt.server_reply_ns, Some(300_000));
        assert_eq!(rtt.samples, 4);
    }

    #[test]
    fn unanswered_or_unpaired_messages_give_no_sample() {
        let mut p = KexPairs::default();
        let mut rtt = AppRtt::default();
        let m = |code: u8, at: i64| KexMessage {
            code: Some(code),
            started: t(at),
            complete: t(at),
        };
        // A client NEWKEYS with no server reply before it, and a server
        // NEWKEYS that answers nothing.
        p.on_message(Direction::ToServer, m(21, 5), &mut rtt);
        p.on_message(Direction::ToClient, m(21, 6), &mut rtt);
        p.on_message(Direction::ToServer, m(20, 7), &mut rtt);
        p.on_message(Direction::ToClient, m(20, 8), &mut rtt);
        assert!(rtt.is_empty());
    }
}
