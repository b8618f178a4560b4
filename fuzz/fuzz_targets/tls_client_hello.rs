//! Fuzz the TLS dissector: the input is a client (or, with the first byte
//! odd, a server) stream prefix. Checks the view invariants: a borrowed body
//! lies inside the input, a reassembled one is no longer than the input, and
//! every fingerprint is computed without panicking on what parsed.
#![no_main]

use gatewatch::proto::tls::ja3::{ja3_hash, ja3_string, ja3s_string};
use gatewatch::proto::tls::ja4::{ja4, Transport};
use gatewatch::proto::tls::{first_hello, ClientHello, HandshakeType, ServerHello};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, stream)) = data.split_first() else {
        return;
    };
    let want = if sel & 1 == 0 {
        HandshakeType::CLIENT_HELLO
    } else {
        HandshakeType::SERVER_HELLO
    };
    let mut scratch = Vec::new();
    let Ok(hs) = first_hello(stream, want, &mut scratch) else {
        return;
    };
    assert!(hs.body.len() <= stream.len());
    if !hs.reassembled {
        let start = stream.as_ptr() as usize;
        let at = hs.body.as_ptr() as usize;
        assert!(at >= start && at + hs.body.len() <= start + stream.len());
    }
    let mut text = String::new();
    if want == HandshakeType::CLIENT_HELLO {
        if let Ok(ch) = ClientHello::parse(hs.body) {
            ja3_string(&ch, &mut text);
            let _ = ja3_hash(&text);
            let mut sort = Vec::new();
            let fp = ja4(&ch, Transport::Tcp, &mut sort);
            assert_eq!(fp.as_str().len(), 36);
            assert_eq!(ch.alpn().map(|a| a.iter().count()).is_some(), ch.alpn().is_some());
        }
    } else if let Ok(sh) = ServerHello::parse(hs.body) {
        ja3s_string(&sh, &mut text);
    }
});
