//! Which flows are remote-access sessions, from the protocol alone: SSH is
//! a remote shell, RDP and VNC remote desktops, the VPN protocols VPNs. The
//! catalogue (issue 3's tool list) refines this with the product (AnyDesk,
//! GlobalProtect...) from names, ports and fingerprints.

use super::app::{AppProto, AppSummary, RemoteAccess};

/// The remote-access reading of a flow's protocol, if it is one.
pub fn by_protocol(app: &AppSummary) -> Option<RemoteAccess> {
    let (tool, category) = match app.app_proto? {
        AppProto::Ssh => ("SSH", "remote-shell"),
        AppProto::Rdp | AppProto::RdpUdp => ("RDP", "remote-desktop"),
        AppProto::Vnc => ("VNC", "remote-desktop"),
        AppProto::WireGuard => ("WireGuard", "vpn"),
        AppProto::OpenVpn => ("OpenVPN", "vpn"),
        AppProto::Ike => ("IPsec", "vpn"),
        AppProto::L2tp => ("L2TP", "vpn"),
        AppProto::Pptp => ("PPTP", "vpn"),
        // A proxy hop: whatever runs inside comes from somewhere else.
        AppProto::Socks => ("SOCKS proxy", "tunnel"),
        _ => return None,
    };
    Some(RemoteAccess {
        tool: Some(tool.to_owned()),
        category: Some(category),
        evidence: vec![format!("protocol:{}", app.app_proto?.name())],
        identity: identity(app),
    })
}

/// An identity hint from the VPN record: an IKEv1 aggressive-mode
/// identity (RFC 2407 §4.6.2), else a PPTP/L2TP host name.
fn identity(app: &AppSummary) -> Option<String> {
    // The user name of RDP's mstshash cookie (MS-RDPBCGR 2.2.1.1).
    if let Some(cookie) = app.rdp.as_ref().and_then(|r| r.cookie_text()) {
        return Some(cookie);
    }
    let hint = app.vpn.as_ref()?.identity_hint()?;
    Some(super::app::capped(hint, MAX_IDENTITY_LEN))
}

/// `remote_access.identity`'s cap (schema/app.json).
const MAX_IDENTITY_LEN: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_is_a_remote_shell_and_tls_alone_is_not_a_session() {
        let mut app = AppSummary::default();
        app.set_proto(AppProto::Ssh);
        let ra = by_protocol(&app).unwrap();
        assert_eq!(ra.category, Some("remote-shell"));
        assert_eq!(ra.evidence, ["protocol:ssh"]);
        let mut tls = AppSummary::default();
        tls.set_proto(AppProto::Tls);
        assert_eq!(by_protocol(&tls), None);
    }

    #[test]
    fn rdp_cookie_is_the_identity() {
        let mut app = AppSummary::default();
        app.set_proto(AppProto::Rdp);
        app.rdp = Some(crate::proto::rdp::RdpRecord {
            cookie: Some(b"alice".to_vec()),
            ..Default::default()
        });
        let ra = by_protocol(&app).unwrap();
        assert_eq!(ra.tool.as_deref(), Some("RDP"));
        assert_eq!(ra.identity.as_deref(), Some("alice"));
    }

    #[test]
    fn ike_identity_becomes_the_identity_hint() {
        let mut app = AppSummary::default();
        app.set_proto(AppProto::Ike);
        let mut vpn = crate::proto::vpn::VpnRecord::new("ike");
        vpn.add_identity("fqdn:vpn.example.com".into());
        app.vpn = Some(vpn);
        let ra = by_protocol(&app).unwrap();
        assert_eq!(ra.identity.as_deref(), Some("fqdn:vpn.example.com"));
        assert_eq!(ra.category, Some("vpn"));
    }
}
