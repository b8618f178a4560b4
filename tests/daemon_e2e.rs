//! The service end to end (build feature `live`, run as root, OpenSSH
//! installed): two network namespaces joined by a veth pair, `sshd` in one
//! with a throwaway host key, the `ssh` client in the other, and the built
//! `gatewatch run --config` capturing on the server's veth end.
//!
//! Sessions are driven before and after a SIGHUP that changes the sensor
//! name and adds the client's network to the site; then SIGTERM. Checked:
//! readiness and reload through `$NOTIFY_SOCKET` (sd_notify), every SSH
//! connection appears as a `session` event with `app_proto` "ssh", sessions
//! before the reload are `inbound` and after it `internal` (the new site
//! networks took effect without a restart), `stats` events carry the old and
//! then the new sensor name, no packet was dropped, and the process exited
//! 0 within the bound.

#[cfg(not(feature = "live"))]
#[test]
fn daemon_e2e() {
    eprintln!("daemon_e2e: skipped: needs the `live` feature (cargo test --features live), root and network namespaces");
}

#[cfg(feature = "live")]
mod live {
    use std::os::unix::net::UnixDatagram;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    const SERVER: &str = "198.51.100.1";
    const CLIENT: &str = "203.0.113.2";
    const PORT: &str = "2222";
    const SESSIONS_BEFORE: usize = 3;
    const SESSIONS_AFTER: usize = 3;
    /// `service.shutdown_timeout` of the test's configuration; the process
    /// must be gone well within it.
    const STOP_BOUND: Duration = Duration::from_secs(5);

    /// Removes the namespaces and kills what was started, on every path out.
    struct Lab {
        namespaces: Vec<String>,
        children: Vec<Child>,
        dir: PathBuf,
    }

    impl Drop for Lab {
        fn drop(&mut self) {
            for c in &mut self.children {
                let _ = c.kill();
                let _ = c.wait();
            }
            for ns in &self.namespaces {
                let _ = Command::new("ip").args(["netns", "del", ns]).status();
            }
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
        let out = Command::new(cmd)
            .args(args)
            .output()
            .map_err(|e| format!("{cmd} {}: {e}", args.join(" ")))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{cmd} {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    fn is_root() -> bool {
        run("id", &["-u"]).is_ok_and(|s| s.trim() == "0")
    }

    fn which(prog: &str) -> Option<PathBuf> {
        ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(prog))
            .find(|p| p.exists())
    }

    fn config(iface: &str, sensor: &str, nets: &[&str], policy: &str) -> String {
        let nets: Vec<String> = nets.iter().map(|n| format!("{n:?}")).collect();
        let mut text = format!(
            r#"[sensor]
name = "{sensor}"
[capture]
workers = 2
[[capture.interfaces]]
name = "{iface}"
promiscuous = true
immediate = true
[site]
networks = [{}]
[flow.timeouts]
tcp-closed = 0.5
[geoip]
disabled = true
[service]
stats_interval = 1
shutdown_timeout = {}
"#,
            nets.join(", "),
            STOP_BOUND.as_secs()
        );
        text.push_str(policy);
        text
    }

    /// The policy after the reload: the client is an identity's laptop;
    /// and a site catalogue names the service on port 2222.
    fn policy_after() -> String {
        format!(
            "[catalogue]\nfile = \"site-catalogue.toml\"\n\n[[policy.identities]]\nname = \"e2e-ops\"\nlaptop_addresses = [\"{CLIENT}\"]\n"
        )
    }

    const SITE_CATALOGUE: &str = "[[entry]]\ntool = \"E2E Jump Host\"\ncategory = \"remote-shell\"\nsource = \"https://gatewatch.invalid/tests/daemon_e2e\"\nports = [\"tcp/2222\"]\n";

    /// Wait for a datagram on the notify socket containing `want`.
    fn wait_notify(sock: &UnixDatagram, want: &str, within: Duration) -> Result<String, String> {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 4096];
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(n) = sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if msg.contains(want) {
                    return Ok(msg);
                }
                seen.push(msg);
            }
        }
        Err(format!(
            "no {want:?} from sd_notify within {within:?}; got {seen:?}"
        ))
    }

    fn ssh_session(client_ns: &str, dir: &Path, n: usize) -> Result<(), String> {
        let key = dir.join("id").to_string_lossy().into_owned();
        let out = run(
            "ip",
            &[
                "netns",
                "exec",
                client_ns,
                "ssh",
                "-i",
                &key,
                "-p",
                PORT,
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-o",
                "LogLevel=ERROR",
                &format!("root@{SERVER}"),
                &format!("echo session-{n}"),
            ],
        )?;
        if out.trim() == format!("session-{n}") {
            Ok(())
        } else {
            Err(format!("ssh session {n} printed {out:?}"))
        }
    }

    #[test]
    fn daemon_e2e() {
        if !is_root() {
            eprintln!("daemon_e2e: skipped: needs root (network namespaces, raw capture)");
            return;
        }
        let (Some(sshd), Some(_)) = (which("sshd"), which("ssh")) else {
            eprintln!("daemon_e2e: skipped: OpenSSH is not installed (apt-get install openssh-server openssh-client)");
            return;
        };
        let tag = std::process::id();
        let (ns_srv, ns_cli) = (format!("gwd-s{tag}"), format!("gwd-c{tag}"));
        let dir = std::env::temp_dir().join(format!("gatewatch-daemon-e2e-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut lab = Lab {
            namespaces: Vec::new(),
            children: Vec::new(),
            dir: dir.clone(),
        };
        for ns in [&ns_srv, &ns_cli] {
            if let Err(e) = run("ip", &["netns", "add", ns]) {
                eprintln!("daemon_e2e: skipped: cannot create network namespaces: {e}");
                return;
            }
            lab.namespaces.push(ns.clone());
        }
        let (v_srv, v_cli) = (
            format!("gws{}", tag % 100_000),
            format!("gwc{}", tag % 100_000),
        );
        let setup = [
            vec![
                "link", "add", &v_srv, "netns", &ns_srv, "type", "veth", "peer", "name", &v_cli,
                "netns", &ns_cli,
            ],
            vec![
                "-n",
                &ns_srv,
                "addr",
                "add",
                "198.51.100.1/24",
                "dev",
                &v_srv,
            ],
            vec![
                "-n",
                &ns_cli,
                "addr",
                "add",
                "203.0.113.2/24",
                "dev",
                &v_cli,
            ],
            vec!["-n", &ns_srv, "link", "set", &v_srv, "up"],
            vec!["-n", &ns_cli, "link", "set", &v_cli, "up"],
            vec!["-n", &ns_srv, "link", "set", "lo", "up"],
            vec!["-n", &ns_cli, "link", "set", "lo", "up"],
            vec![
                "-n",
                &ns_srv,
                "route",
                "add",
                "203.0.113.0/24",
                "dev",
                &v_srv,
            ],
            vec![
                "-n",
                &ns_cli,
                "route",
                "add",
                "198.51.100.0/24",
                "dev",
                &v_cli,
            ],
        ];
        for args in &setup {
            run("ip", args).unwrap();
        }
        for (ns, v) in [(&ns_srv, &v_srv), (&ns_cli, &v_cli)] {
            // Wire-sized frames, as CAPTURE-RECIPES.md says; absent ethtool
            // only makes the frames bigger.
            let _ = run(
                "ip",
                &[
                    "netns", "exec", ns, "ethtool", "-K", v, "tso", "off", "gso", "off", "gro",
                    "off", "tx", "off", "rx", "off",
                ],
            );
        }

        // sshd with a throwaway host key; the client's key is authorised.
        let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
        for key in ["hostkey", "id"] {
            run(
                "ssh-keygen",
                &["-q", "-t", "ed25519", "-N", "", "-f", &p(key)],
            )
            .unwrap();
        }
        std::fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {PORT}\nListenAddress {SERVER}\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM no\nStrictModes no\n",
                p("hostkey"),
                p("authorized_keys"),
                p("sshd.pid")
            ),
        )
        .unwrap();
        let sshd_path = sshd.to_string_lossy().into_owned();
        lab.children.push(
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns_srv,
                    &sshd_path,
                    "-D",
                    "-e",
                    "-f",
                    &p("sshd_config"),
                ])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
                .spawn()
                .unwrap(),
        );

        // The service, with its sd_notify socket bound by the test.
        let conf = dir.join("gatewatch.toml");
        std::fs::write(&conf, config(&v_srv, "e2e-before", &[SERVER], "")).unwrap();
        let notify = UnixDatagram::bind(dir.join("notify.sock")).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let events = dir.join("events.json");
        let gw = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns_srv,
                env!("CARGO_BIN_EXE_gatewatch"),
                "run",
                "--config",
            ])
            .arg(&conf)
            .arg("-o")
            .arg(&events)
            .env("NOTIFY_SOCKET", dir.join("notify.sock"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("gatewatch.log")).unwrap())
            .spawn()
            .unwrap();
        let gw_pid = gw.id();
        lab.children.push(gw);
        let log = || std::fs::read_to_string(dir.join("gatewatch.log")).unwrap_or_default();
        let ready = wait_notify(&notify, "READY=1", Duration::from_secs(20));
        assert!(ready.is_ok(), "{ready:?}\n{}", log());

        // sshd needs a moment to listen; asked with `ss`, not by connecting,
        // so that every connection the service sees is a counted session.
        let t0 = Instant::now();
        while !run(
            "ip",
            &[
                "netns",
                "exec",
                &ns_srv,
                "ss",
                "-Hltn",
                &format!("sport = :{PORT}"),
            ],
        )
        .is_ok_and(|o| o.contains(PORT))
        {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "sshd did not listen: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        ssh_session(&ns_cli, &dir, 0).unwrap();
        for n in 1..SESSIONS_BEFORE {
            ssh_session(&ns_cli, &dir, n).unwrap();
        }
        // Let the closed sessions linger out (tcp-closed 0.5 s, 1 s ticks)
        // so that they end under the first configuration.
        std::thread::sleep(Duration::from_secs(3));

        // Reload: the client's network joins the site; the sensor is
        // renamed; the policy names the client as an identity's laptop; a
        // site catalogue names the service.
        std::fs::write(conf.with_file_name("site-catalogue.toml"), SITE_CATALOGUE).unwrap();
        std::fs::write(
            &conf,
            config(
                &v_srv,
                "e2e-after",
                &[SERVER, "203.0.113.0/24"],
                &policy_after(),
            ),
        )
        .unwrap();
        run("kill", &["-HUP", &gw_pid.to_string()]).unwrap();
        let reloading = wait_notify(&notify, "RELOADING=1", Duration::from_secs(10));
        assert!(
            reloading
                .as_ref()
                .is_ok_and(|m| m.contains("MONOTONIC_USEC=")),
            "{reloading:?}\n{}",
            log()
        );
        let ready = wait_notify(&notify, "READY=1", Duration::from_secs(10));
        assert!(ready.is_ok(), "{ready:?}\n{}", log());
        // The reload is applied between two frames of the pipeline: give
        // it a tick.
        std::thread::sleep(Duration::from_millis(300));
        for n in SESSIONS_BEFORE..SESSIONS_BEFORE + SESSIONS_AFTER {
            ssh_session(&ns_cli, &dir, n).unwrap();
        }
        std::thread::sleep(Duration::from_secs(2));

        // Stop: flows are flushed, the process exits 0 within the bound.
        let t_stop = Instant::now();
        run("kill", &["-TERM", &gw_pid.to_string()]).unwrap();
        let stopping = wait_notify(&notify, "STOPPING=1", STOP_BOUND);
        assert!(stopping.is_ok(), "{stopping:?}");
        let mut gw = lab.children.pop().unwrap();
        let status = loop {
            if let Some(s) = gw.try_wait().unwrap() {
                break s;
            }
            assert!(
                t_stop.elapsed() < STOP_BOUND,
                "still running {STOP_BOUND:?} after SIGTERM\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = t_stop.elapsed();
        assert!(status.success(), "exit status {status:?}\n{}", log());
        eprintln!("daemon_e2e: stopped {took:?} after SIGTERM");

        let text = std::fs::read_to_string(&events).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let of = |t: &'static str| lines.iter().filter(move |v| v["event_type"] == t);
        let sessions: Vec<&serde_json::Value> = of("session")
            .filter(|v| v["dest_port"] == 2222 && v["app_proto"] == "ssh")
            .collect();
        let flows: Vec<&serde_json::Value> =
            of("flow").filter(|v| v["dest_port"] == 2222).collect();
        let total = SESSIONS_BEFORE + SESSIONS_AFTER;
        assert_eq!(flows.len(), total, "one flow per connection\n{text}");
        assert_eq!(
            sessions.len(),
            total,
            "one ssh session event per connection\n{text}"
        );
        for s in &sessions {
            assert_eq!(s["src_ip"], CLIENT, "{s}");
        }
        let inbound = sessions
            .iter()
            .filter(|s| s["direction"] == "inbound")
            .count();
        let internal = sessions
            .iter()
            .filter(|s| s["direction"] == "internal")
            .count();
        assert_eq!(
            (inbound, internal),
            (SESSIONS_BEFORE, SESSIONS_AFTER),
            "the reload's site networks apply to the later sessions\n{text}"
        );
        // The reloaded policy ties the later sessions to the identity.
        let identities: Vec<Option<&str>> = sessions
            .iter()
            .map(|s| s["identity"]["name"].as_str())
            .collect();
        let expected: Vec<Option<&str>> = (0..total)
            .map(|i| (i >= SESSIONS_BEFORE).then_some("e2e-ops"))
            .collect();
        assert_eq!(
            identities, expected,
            "the reloaded policy applies to the later sessions\n{text}"
        );
        let tools: Vec<&str> = sessions
            .iter()
            .map(|s| s["remote_access"]["tool"].as_str().unwrap_or(""))
            .collect();
        let expected_tools: Vec<&str> = (0..total)
            .map(|i| {
                if i >= SESSIONS_BEFORE {
                    "E2E Jump Host"
                } else {
                    "SSH"
                }
            })
            .collect();
        assert_eq!(
            tools,
            expected_tools,
            "the reloaded catalogue names the later sessions\n{}",
            log()
        );
        assert!(
            log().contains("reload: detection policy applied (1 identities)"),
            "{}",
            log()
        );
        // Periodic stats carry the sensor name, old then new.
        let names: Vec<&str> = of("stats")
            .filter_map(|v| v["sensor"]["name"].as_str())
            .collect();
        assert!(
            names.first() == Some(&"e2e-before") && names.last() == Some(&"e2e-after"),
            "{names:?}"
        );
        assert!(names.len() >= 5, "a stats event every second: {names:?}");
        let last = of("stats").next_back().unwrap();
        assert_eq!(last["stats"]["detect"]["sessions"], total, "{last}");
        // The periodic stats carry the detector's running counters too.
        let periodic = of("stats").count() - 1;
        assert!(
            of("stats")
                .take(periodic)
                .any(|v| v["stats"]["detect"]["sessions"].as_u64() >= Some(1)),
            "{text}"
        );
        assert_eq!(last["stats"]["capture"]["kernel_drops"], 0, "{last}");
        assert!(
            last["stats"]["capture"]["frames"].as_u64().unwrap() > 20,
            "{last}"
        );
        assert!(
            log().contains("reloaded: sensor \"e2e-after\""),
            "{}",
            log()
        );
        eprintln!(
            "daemon_e2e: {total}/{total} ssh sessions ({inbound} inbound before the reload, {internal} internal after), {} stats events, exit 0 in {took:?}",
            names.len()
        );
    }
}
