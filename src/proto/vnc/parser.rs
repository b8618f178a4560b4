//! Zero-copy views of the RFB handshake messages (RFC 6143 §7.1-7.3) and
//! of VeNCrypt's negotiation. Each `parse` takes the bytes where the
//! message starts and answers the view and the bytes it takes.

use std::fmt;

/// Why a message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RfbError {
    /// At least `need` bytes from the message's start are needed.
    Incomplete { need: usize },
    Malformed {
        field: &'static str,
        offset: usize,
        what: &'static str,
    },
}

impl fmt::Display for RfbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RfbError::Incomplete { need } => write!(f, "incomplete: {need} bytes needed"),
            RfbError::Malformed {
                field,
                offset,
                what,
            } => write!(f, "{field} at offset {offset}: {what}"),
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

pub fn u8_at(b: &[u8], at: usize) -> Result<u8, RfbError> {
    b.get(at)
        .copied()
        .ok_or(RfbError::Incomplete { need: at + 1 })
}

pub fn u16_at(b: &[u8], at: usize) -> Result<u16, RfbError> {
    match b.get(at..at + 2) {
        Some(s) => Ok(u16::from_be_bytes([s[0], s[1]])),
        None => Err(RfbError::Incomplete { need: at + 2 }),
    }
}

/// RFB integers are big-endian (§7: "all multiple-byte integers ... are
/// in big endian order").
pub fn u32_at(b: &[u8], at: usize) -> Result<u32, RfbError> {
    match b.get(at..at + 4) {
        Some(s) => Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]])),
        None => Err(RfbError::Incomplete { need: at + 4 }),
    }
}

/// ProtocolVersion (§7.1.1): `RFB xxx.yyy\n`, 12 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolVersion {
    /// `xxx.yyy` as on the wire.
    pub digits: [u8; 7],
}

pub const PROTOCOL_VERSION_LEN: usize = 12;
const VERSION_MAGIC: &[u8] = b"RFB ";

impl ProtocolVersion {
    pub fn parse(b: &[u8]) -> Result<ProtocolVersion, RfbError> {
        let n = b.len().min(VERSION_MAGIC.len());
        if b.get(..n) != VERSION_MAGIC.get(..n) {
            return Err(RfbError::Malformed {
                field: "protocol_version",
                offset: 0,
                what: "no \"RFB \"",
            });
        }
        need(b, PROTOCOL_VERSION_LEN)?;
        let mut digits = [0u8; 7];
        digits.copy_from_slice(b.get(4..11).unwrap_or(&[0; 7]));
        let shape_ok = digits.iter().enumerate().all(|(i, &c)| {
            if i == 3 {
                c == b'.'
            } else {
                c.is_ascii_digit()
            }
        });
        if !shape_ok || b.get(11) != Some(&b'\n') {
            return Err(RfbError::Malformed {
                field: "protocol_version",
                offset: 4,
                what: "not xxx.yyy LF",
            });
        }
        Ok(ProtocolVersion { digits })
    }

    fn number(d: &[u8]) -> u16 {
        d.iter()
            .fold(0u16, |n, &c| n * 10 + u16::from(c.wrapping_sub(b'0')))
    }

    pub fn major(&self) -> u16 {
        Self::number(&self.digits[..3])
    }

    pub fn minor(&self) -> u16 {
        Self::number(&self.digits[4..])
    }

    /// The security handshake has a type list (3.7 and later, §7.1.2);
    /// §7.1.1 has servers treat other versions as 3.3, but Apple's 3.889
    /// speaks 3.8.
    pub fn has_type_list(&self) -> bool {
        self.major() > 3 || self.minor() >= 7
    }

    /// A SecurityResult follows security type None (3.8 and later, §7.1.3).
    pub fn result_after_none(&self) -> bool {
        self.major() > 3 || self.minor() >= 8
    }
}

/// The server's security offer of 3.7+ (§7.1.2): `number-of-security-types`
/// then the types; zero types means failure, followed by a reason string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityOffer<'a> {
    Types(&'a [u8]),
    Failed,
}

impl<'a> SecurityOffer<'a> {
    pub fn parse(b: &'a [u8]) -> Result<(SecurityOffer<'a>, usize), RfbError> {
        let n = usize::from(u8_at(b, 0)?);
        if n == 0 {
            return Ok((SecurityOffer::Failed, 1));
        }
        let types = b
            .get(1..1 + n)
            .ok_or(RfbError::Incomplete { need: 1 + n })?;
        Ok((SecurityOffer::Types(types), 1 + n))
    }
}

/// VeNCrypt's server answer to the client's version (VeNCrypt 0.2): a
/// status byte (0: version accepted), then the subtype count and the
/// subtypes, u32 each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VencryptOffer<'a> {
    /// The subtypes, 4 bytes each.
    Subtypes(&'a [u8]),
    Refused,
}

impl<'a> VencryptOffer<'a> {
    pub fn parse(b: &'a [u8]) -> Result<(VencryptOffer<'a>, usize), RfbError> {
        if u8_at(b, 0)? != 0 {
            return Ok((VencryptOffer::Refused, 1));
        }
        let n = usize::from(u8_at(b, 1)?);
        let end = 2 + 4 * n;
        let subtypes = b.get(2..end).ok_or(RfbError::Incomplete { need: end })?;
        Ok((VencryptOffer::Subtypes(subtypes), end))
    }
}

/// ServerInit (§7.3.2): framebuffer size, pixel format, name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerInit<'a> {
    pub width: u16,
    pub height: u16,
    /// The name's first bytes, at most the cap asked for.
    pub name: &'a [u8],
}

mod server_init {
    pub const WIDTH: usize = 0;
    pub const HEIGHT: usize = 2;
    /// After the 16-byte PIXEL_FORMAT.
    pub const NAME_LENGTH: usize = 20;
    pub const NAME: usize = 24;
}

impl<'a> ServerInit<'a> {
    /// `name_cap` bounds how much of the name is waited for: a hostile
    /// length never holds the parse back.
    pub fn parse(b: &'a [u8], name_cap: usize) -> Result<ServerInit<'a>, RfbError> {
        let width = u16_at(b, server_init::WIDTH)?;
        let height = u16_at(b, server_init::HEIGHT)?;
        let len = u32_at(b, server_init::NAME_LENGTH)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX).min(name_cap);
        let end = server_init::NAME + len;
        let name = b
            .get(server_init::NAME..end)
            .ok_or(RfbError::Incomplete { need: end })?;
        Ok(ServerInit {
            width,
            height,
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_versions() {
        let v = ProtocolVersion::parse(b"RFB 003.889\n").unwrap();
        assert_eq!(&v.digits, b"003.889");
        assert_eq!((v.major(), v.minor()), (3, 889));
        assert!(v.has_type_list());
        let v = ProtocolVersion::parse(b"RFB 003.003\n").unwrap();
        assert!(!v.has_type_list());
        assert_eq!(
            ProtocolVersion::parse(b"RFB 00"),
            Err(RfbError::Incomplete { need: 12 })
        );
        assert!(ProtocolVersion::parse(b"RFB 003.00x\n").is_err());
        assert!(ProtocolVersion::parse(b"SSH-2.0-x\r\n").is_err());
    }

    #[test]
    fn server_init_waits_for_at_most_the_cap() {
        let mut b = vec![0x04, 0x00, 0x03, 0x00];
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        b.extend_from_slice(b"desk");
        let si = ServerInit::parse(&b, 4).unwrap();
        assert_eq!((si.width, si.height, si.name), (1024, 768, &b"desk"[..]));
        assert_eq!(
            ServerInit::parse(&b, 5),
            Err(RfbError::Incomplete { need: 29 })
        );
    }
}
