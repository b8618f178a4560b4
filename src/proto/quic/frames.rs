//! The frames of a decrypted Initial payload (RFC 9000 §12.4, Table 3:
//! only PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE of type 0x1c may
//! appear in Initial packets). CRYPTO data is handed to the caller with
//! its offset; the rest is skipped after its framing was checked.

use super::packet::varint;
use super::QuicError;

/// Frame types, RFC 9000 §19 and §12.4.
pub mod frame_type {
    /// §19.1.
    pub const PADDING: u64 = 0x00;
    /// §19.2.
    pub const PING: u64 = 0x01;
    /// §19.3: 0x02, and 0x03 with ECN counts.
    pub const ACK: u64 = 0x02;
    pub const ACK_ECN: u64 = 0x03;
    /// §19.6.
    pub const CRYPTO: u64 = 0x06;
    /// §19.19: the transport-level CONNECTION_CLOSE.
    pub const CONNECTION_CLOSE: u64 = 0x1c;
}

/// A cursor over one payload, reporting offsets within it.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn varint(&mut self, what: &'static str) -> Result<u64, QuicError> {
        let (v, n) = varint(self.b.get(self.at..).unwrap_or(&[]))
            .ok_or(QuicError::Truncated { what, at: self.at })?;
        self.at += n;
        Ok(v)
    }

    fn bytes(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], QuicError> {
        let n = usize::try_from(n).map_err(|_| QuicError::Malformed { what, at: self.at })?;
        let s = self
            .b
            .get(self.at..self.at.saturating_add(n))
            .ok_or(QuicError::Truncated { what, at: self.at })?;
        self.at += n;
        Ok(s)
    }
}

/// Walk the frames of an Initial payload, calling `on_crypto(offset,
/// data)` for each CRYPTO frame, in wire order.
pub fn for_each_crypto<'a>(
    payload: &'a [u8],
    mut on_crypto: impl FnMut(u64, &'a [u8]),
) -> Result<(), QuicError> {
    let mut c = Cursor { b: payload, at: 0 };
    while c.at < payload.len() {
        let ty_at = c.at;
        match c.varint("frame type")? {
            frame_type::PADDING | frame_type::PING => {}
            t @ (frame_type::ACK | frame_type::ACK_ECN) => skip_ack(&mut c, t)?,
            frame_type::CRYPTO => {
                let offset = c.varint("CRYPTO offset")?;
                let len = c.varint("CRYPTO length")?;
                // §19.6: "The largest offset delivered on a stream -- the
                // sum of the offset and data length -- cannot exceed 2^62-1".
                if offset.saturating_add(len) >= 1 << 62 {
                    return Err(QuicError::Malformed {
                        what: "CRYPTO offset + length",
                        at: ty_at,
                    });
                }
                on_crypto(offset, c.bytes(len, "CRYPTO data")?);
            }
            frame_type::CONNECTION_CLOSE => {
                c.varint("CONNECTION_CLOSE error code")?;
                c.varint("CONNECTION_CLOSE frame type")?;
                let n = c.varint("CONNECTION_CLOSE reason length")?;
                c.bytes(n, "CONNECTION_CLOSE reason")?;
            }
            _ => {
                return Err(QuicError::Malformed {
                    what: "frame type not allowed in Initial packets",
                    at: ty_at,
                })
            }
        }
    }
    Ok(())
}

/// §19.3: Largest Acknowledged, ACK Delay, ACK Range Count, First ACK
/// Range, the ranges (Gap, ACK Range Length), and for 0x03 three ECN
/// counts. Every range reads at least two bytes, so a huge count ends at
/// the end of the payload.
fn skip_ack(c: &mut Cursor<'_>, t: u64) -> Result<(), QuicError> {
    c.varint("ACK largest acknowledged")?;
    c.varint("ACK delay")?;
    let ranges = c.varint("ACK range count")?;
    c.varint("ACK first range")?;
    for _ in 0..ranges {
        c.varint("ACK gap")?;
        c.varint("ACK range length")?;
    }
    if t == frame_type::ACK_ECN {
        for _ in 0..3 {
            c.varint("ACK ECN count")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::vectors::CLIENT_CRYPTO_FRAME;
    use super::*;
    use crate::testutil::hex;

    #[test]
    fn rfc9001_client_payload_has_one_crypto_frame() {
        let mut p = hex(CLIENT_CRYPTO_FRAME);
        p.extend_from_slice(&[0; 917]);
        let mut got = Vec::new();
        for_each_crypto(&p, |o, d| got.push((o, d.len(), d[0]))).unwrap();
        // "06 00 40f1": offset 0, length 241, a ClientHello (type 1).
        assert_eq!(got, vec![(0, 241, 1)]);
    }

    #[test]
    fn rfc9001_server_payload_ack_then_crypto() {
        // RFC 9001 A.3 unprotected server payload (ACK, CRYPTO).
        let p = hex(
            "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739\
             88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94\
             0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00\
             020304",
        );
        let mut got = Vec::new();
        for_each_crypto(&p, |o, d| got.push((o, d.len(), d[0]))).unwrap();
        assert_eq!(got, vec![(0, 90, 2)]);
    }

    #[test]
    fn bad_frames_are_reported_with_offsets() {
        assert_eq!(
            for_each_crypto(&[0x00, 0x08], |_, _| {}),
            Err(QuicError::Malformed {
                what: "frame type not allowed in Initial packets",
                at: 1
            })
        );
        assert!(matches!(
            for_each_crypto(&[0x06, 0x00, 0x10, 1, 2], |_, _| {}),
            Err(QuicError::Truncated {
                what: "CRYPTO data",
                at: 3
            })
        ));
        // An ACK claiming 2^62-1 ranges over three bytes.
        assert!(for_each_crypto(&hex("0200 00 bfffffffffffffff 00 00"), |_, _| {}).is_err());
    }
}
