//! The owned record of one SSH direction: what a flow keeps and an event
//! carries. Built once from the borrowed views in [`super::parser`]; every
//! copied field is capped (a hostile peer chooses its lengths).

use super::hassh::{Hassh, Role};
use super::parser::{parse_stream, Anomalies, KexInit, NameList, SshError, MAX_BANNER_LEN};

/// Cap on each name-list copied into the record (real lists are a few
/// hundred bytes; post-quantum kex names included).
pub const MAX_NAME_LIST_LEN: usize = 2048;
/// Cap on the HASSH string copied into the record.
pub const MAX_HASSH_STRING_LEN: usize = 4096;
/// Banner bytes kept: the §4.2 maximum less CR LF.
pub const MAX_BANNER_COPY: usize = MAX_BANNER_LEN - 2;

/// The KEXINIT name-lists a record keeps (HASSH's inputs, plus the host key
/// algorithms), capped at [`MAX_NAME_LIST_LEN`] each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KexInitLists {
    pub kex_algorithms: String,
    pub server_host_key_algorithms: String,
    pub encryption_client_to_server: String,
    pub encryption_server_to_client: String,
    pub mac_client_to_server: String,
    pub mac_server_to_client: String,
    pub compression_client_to_server: String,
    pub compression_server_to_client: String,
    pub first_kex_packet_follows: bool,
}

impl KexInitLists {
    fn from_view(k: &KexInit<'_>, anomalies: &mut Anomalies) -> KexInitLists {
        let mut copy = |l: NameList<'_>| capped_string(l.as_bytes(), MAX_NAME_LIST_LEN, anomalies);
        KexInitLists {
            kex_algorithms: copy(k.kex_algorithms),
            server_host_key_algorithms: copy(k.server_host_key_algorithms),
            encryption_client_to_server: copy(k.encryption_client_to_server),
            encryption_server_to_client: copy(k.encryption_server_to_client),
            mac_client_to_server: copy(k.mac_client_to_server),
            mac_server_to_client: copy(k.mac_server_to_client),
            compression_client_to_server: copy(k.compression_client_to_server),
            compression_server_to_client: copy(k.compression_server_to_client),
            first_kex_packet_follows: k.first_kex_packet_follows,
        }
    }
}

fn capped_string(b: &[u8], cap: usize, anomalies: &mut Anomalies) -> String {
    if b.len() > cap {
        anomalies.insert(Anomalies::LIST_TRUNCATED);
    }
    String::from_utf8_lossy(b.get(..b.len().min(cap)).unwrap_or(&[])).into_owned()
}

/// What one direction of an SSH connection showed in clear text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSideRecord {
    pub role: Role,
    /// The identification line without CR LF, capped at
    /// [`MAX_BANNER_COPY`] bytes and cut at the first NUL (raw: it may not
    /// be UTF-8).
    pub banner: Vec<u8>,
    /// [`Anomalies::LONG_BANNER`] tells the banner was capped.
    pub anomalies: Anomalies,
    pub pre_banner_lines: usize,
    /// `None` until KEXINIT is seen (see `kexinit_error`).
    pub kexinit: Option<KexInitLists>,
    /// HASSH for a client, HASSH-server for a server.
    pub hassh: Option<Hassh>,
    /// Why there is no KEXINIT: `Incomplete` (wait for bytes),
    /// `Unsupported` (SSH-1) or `Malformed`.
    pub kexinit_error: Option<SshError>,
}

impl SshSideRecord {
    /// Build the record of the side sending `stream` in `role`.
    /// `Err` while the banner is incomplete, or when this is not SSH.
    pub fn from_stream(stream: &[u8], role: Role) -> Result<SshSideRecord, SshError> {
        let start = parse_stream(stream)?;
        let line = start.banner.line();
        let mut anomalies = start.banner.anomalies();
        // Text after a NUL is padding (see `Anomalies::NUL_IN_BANNER`).
        let text = line.split(|&b| b == 0).next().unwrap_or(&[]);
        let banner = text
            .get(..text.len().min(MAX_BANNER_COPY))
            .unwrap_or(&[])
            .to_vec();
        let (kexinit, hassh, kexinit_error) = match start.kexinit {
            Ok(k) => (
                Some(KexInitLists::from_view(&k, &mut anomalies)),
                Some(Hassh::new(&k, role, MAX_HASSH_STRING_LEN)),
                None,
            ),
            Err(e) => (None, None, Some(e)),
        };
        Ok(SshSideRecord {
            role,
            banner,
            anomalies,
            pre_banner_lines: start.banner.pre_banner_lines(),
            kexinit,
            hassh,
            kexinit_error,
        })
    }

    /// The banner as text (lossy).
    pub fn banner_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.banner)
    }

    /// Nothing more will come from this direction's clear text: KEXINIT was
    /// seen, or it never will be.
    pub fn is_final(&self) -> bool {
        !matches!(self.kexinit_error, Some(SshError::Incomplete { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ssh::parser::tests::curve25519_server_stream;
    use crate::testutil::hex;

    #[test]
    fn server_record_from_corpus_stream() {
        // zeek ssh_kex_curve25519.pcap: Zeek's ssh.log says server
        // "SSH-2.0-OpenSSH_7.5"; tshark says hasshServer a95c22bf....
        let s = curve25519_server_stream();
        let r = SshSideRecord::from_stream(&s, Role::Server).unwrap();
        assert_eq!(r.banner, b"SSH-2.0-OpenSSH_7.5");
        let h = r.hassh.as_ref().unwrap();
        assert_eq!(h.hash, "a95c22bf8e9b19ed0a5dc74bb2f9c613");
        let l = r.kexinit.as_ref().unwrap();
        assert_eq!(l.kex_algorithms, "curve25519-sha256");
        assert_eq!(
            l.server_host_key_algorithms,
            "ssh-ed25519,ssh-ed25519-cert-v01@openssh.com"
        );
        assert!(r.is_final());
        assert_eq!(r.kexinit_error, None);
    }

    #[test]
    fn banner_only_record_waits_for_kexinit() {
        let s = curve25519_server_stream();
        let r = SshSideRecord::from_stream(s.get(..30).unwrap(), Role::Server).unwrap();
        assert_eq!(r.banner, b"SSH-2.0-OpenSSH_7.5");
        assert!(r.hassh.is_none());
        assert!(!r.is_final());
    }

    #[test]
    fn nul_padded_banner_is_cut_like_tshark() {
        // suricata-verify bug-4903-01 frame 4 (first 40 of 122 NULs kept);
        // tshark's ssh.protocol shows "SSH-1.99-Cisco_server-1.24 ".
        let mut s = hex("5353482d312e39392d436973636f5f7365727665722d312e323420");
        s.extend_from_slice(&[0; 40]);
        s.push(b'\n');
        let r = SshSideRecord::from_stream(&s, Role::Server).unwrap();
        assert_eq!(r.banner, b"SSH-1.99-Cisco_server-1.24 ");
        assert!(r.anomalies.contains(Anomalies::NUL_IN_BANNER));
        assert!(r.anomalies.contains(Anomalies::MISSING_CR));
    }

    #[test]
    fn long_banner_is_capped() {
        let mut s = b"SSH-2.0-x ".to_vec();
        s.resize(1000, b'a');
        s.extend_from_slice(b"\r\n");
        let r = SshSideRecord::from_stream(&s, Role::Client).unwrap();
        assert_eq!(r.banner.len(), MAX_BANNER_COPY);
        assert!(r.anomalies.contains(Anomalies::LONG_BANNER));
    }
}
