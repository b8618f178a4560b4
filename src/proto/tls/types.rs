//! TLS code points as newtypes (IANA "TLS Parameters" registries), so a
//! cipher suite cannot be passed where an extension type is expected.

/// Record content type, RFC 8446 §5.1 / RFC 5246 §6.2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentType(pub u8);

impl ContentType {
    pub const CHANGE_CIPHER_SPEC: Self = Self(20);
    pub const ALERT: Self = Self(21);
    pub const HANDSHAKE: Self = Self(22);
    pub const APPLICATION_DATA: Self = Self(23);
}

/// Handshake message type, RFC 8446 §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandshakeType(pub u8);

impl HandshakeType {
    pub const HELLO_REQUEST: Self = Self(0);
    pub const CLIENT_HELLO: Self = Self(1);
    pub const SERVER_HELLO: Self = Self(2);
}

/// Protocol version, RFC 8446 §4.2.1 (`0x0303` is TLS 1.2, `0x0304` TLS 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolVersion(pub u16);

impl ProtocolVersion {
    pub const SSL_2_0: Self = Self(0x0200);
    pub const SSL_3_0: Self = Self(0x0300);
    pub const TLS_1_0: Self = Self(0x0301);
    pub const TLS_1_1: Self = Self(0x0302);
    pub const TLS_1_2: Self = Self(0x0303);
    pub const TLS_1_3: Self = Self(0x0304);
}

/// Cipher suite, RFC 8446 §B.4 and the IANA registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CipherSuite(pub u16);

/// Extension type, RFC 8446 §4.2 and the IANA registry. Unknown values are
/// kept as they are: fingerprints count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtensionType(pub u16);

impl ExtensionType {
    /// RFC 6066 §3.
    pub const SERVER_NAME: Self = Self(0);
    /// RFC 8422 §5.1.1 (was "elliptic_curves").
    pub const SUPPORTED_GROUPS: Self = Self(10);
    /// RFC 8422 §5.1.2.
    pub const EC_POINT_FORMATS: Self = Self(11);
    /// RFC 8446 §4.2.3.
    pub const SIGNATURE_ALGORITHMS: Self = Self(13);
    /// RFC 7301 §3.1.
    pub const ALPN: Self = Self(16);
    /// RFC 8446 §4.2.10.
    pub const EARLY_DATA: Self = Self(42);
    /// RFC 8446 §4.2.1.
    pub const SUPPORTED_VERSIONS: Self = Self(43);
    /// RFC 9001 §8.2.
    pub const QUIC_TRANSPORT_PARAMETERS: Self = Self(57);
}
