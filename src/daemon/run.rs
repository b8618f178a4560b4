//! The running service (live build): opens the interfaces, starts the
//! control thread (signals, reload, watchdog, shutdown bound) and the
//! metrics endpoint, and runs the pipeline until asked to stop.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};

use super::metrics::{self, CountingSink, Metrics};
use super::notify::{self, Notifier};
use crate::capture::live::{LiveOptions, LiveSource};
use crate::cli::{EXIT_INPUT, EXIT_OK, EXIT_OUTPUT, EXIT_USAGE};
use crate::config::Config;
use crate::enrich::reload::{ReloadOutcome, Reloader};
use crate::enrich::SharedSources;
use crate::pipeline::service::{run_service, LiveInput, Reconfigure, ServiceOptions};
use crate::pipeline::PipelineConfig;

/// How often the control thread looks at its flags.
const CONTROL_PERIOD: Duration = Duration::from_millis(50);
/// How often replaced database and list files are looked for.
const FILE_CHECK_PERIOD: Duration = Duration::from_secs(2);
/// How often the metrics see fresh pipeline totals.
const METRICS_PERIOD: Duration = Duration::from_secs(5);

fn log(msg: &str) {
    eprintln!("gatewatch: {msg}");
}

pub fn run(path: &Path, output: Option<&Path>) -> u8 {
    let notifier = Arc::new(Notifier::from_env());
    let config = match super::validate(path) {
        Ok(c) => c,
        Err(problems) => {
            for p in problems {
                log(&p);
            }
            return EXIT_USAGE;
        }
    };
    let built = match config.enrich.build() {
        Ok(b) => b,
        Err(e) => {
            log(&format!("{}: [geoip]: {e}", path.display()));
            return EXIT_USAGE;
        }
    };
    for line in config.enrich.startup_report(&built) {
        log(&line);
    }
    let shared = SharedSources::new(built.sources);
    let policy = match super::service_policy(path, &config) {
        Ok(p) => p,
        Err(problems) => {
            for p in problems {
                log(&p);
            }
            return EXIT_USAGE;
        }
    };
    log(&format!(
        "detection policy: {} identities, alerts from score {}{}",
        policy.identities.len(),
        policy.alerts.min_score,
        match &policy.store.path {
            Some(p) => format!(", state in {}", p.display()),
            None => String::new(),
        }
    ));
    let metrics = Metrics::new();
    let mut detect = crate::detect::DetectConfig::new(policy, None);
    let alerts = metrics.alerts.clone();
    detect.on_alert = Some(Arc::new(move |rule: &str| alerts.inc(&[rule])));
    let catalogue = match &config.catalogue {
        Some(file) => match crate::catalogue::Catalogue::with_site_entries(file) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                log(&format!("{}: catalogue.file: {e}", path.display()));
                return EXIT_USAGE;
            }
        },
        None => crate::catalogue::Catalogue::shared_embedded(),
    };
    let pipeline = PipelineConfig {
        workers: config.capture.workers,
        flow: config.flow.clone(),
        site: {
            let mut site = config.site.clone();
            detect.current().extend_site(&mut site);
            site
        },
        enrich: Some(shared.clone()),
        catalogue,
        detect: Some(detect.clone()),
        ..PipelineConfig::default()
    };

    let mut inputs: Vec<Box<dyn LiveInput>> = Vec::new();
    for iface in &config.capture.interfaces {
        let opts = LiveOptions {
            interface: iface.name.clone(),
            bpf: iface.bpf.clone(),
            duration: None,
            snaplen: iface.snaplen,
            promisc: iface.promiscuous,
            immediate: iface.immediate,
            buffer_size: iface.buffer_size,
            ..LiveOptions::default()
        };
        match LiveSource::open(&opts) {
            Ok(src) => inputs.push(Box::new(src)),
            Err(e) => {
                log(&e.to_string());
                return EXIT_INPUT;
            }
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    if let Err(e) = register_signals(&stop, &hup) {
        log(&format!("cannot install signal handlers: {e}"));
        return EXIT_USAGE;
    }

    let metrics_server = if config.metrics.enabled {
        match metrics::serve(config.metrics.listen, metrics.clone(), stop.clone()) {
            Ok((addr, handle)) => {
                log(&format!("metrics on http://{addr}/metrics"));
                Some(handle)
            }
            Err(e) => {
                log(&format!("metrics.listen {}: {e}", config.metrics.listen));
                return EXIT_USAGE;
            }
        }
    } else {
        None
    };

    let (sink, router) = match super::open_event_sink(output, config.outputs.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            log(&format!("cannot open the event output: {e}"));
            return EXIT_OUTPUT;
        }
    };
    let mut sink = CountingSink {
        inner: sink,
        metrics: metrics.clone(),
    };
    if let Some(r) = &router {
        // A weak reference: the router is unwrapped for its shutdown below.
        let weak = Arc::downgrade(r);
        metrics.set_output_stats(Box::new(move || {
            weak.upgrade().map(|r| r.stats()).unwrap_or_default()
        }));
    }

    let (reconf_tx, reconf_rx) = bounded::<Reconfigure>(4);
    let done = Arc::new(AtomicBool::new(false));
    let control = Control {
        path: path.to_path_buf(),
        started: config.clone(),
        shared: shared.clone(),
        reconf: reconf_tx,
        notifier: notifier.clone(),
        metrics: metrics.clone(),
        stop: stop.clone(),
        hup,
        done: done.clone(),
        shutdown_timeout: config.service.shutdown_timeout,
        detect: detect.clone(),
        router: router.clone(),
    };
    let control = match std::thread::Builder::new()
        .name("gatewatch-control".into())
        .spawn(move || control.run())
    {
        Ok(h) => h,
        Err(e) => {
            log(&format!("cannot start the control thread: {e}"));
            return EXIT_USAGE;
        }
    };

    let names: Vec<&str> = config
        .capture
        .interfaces
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    let status = format!(
        "capturing on {} with {} workers",
        names.join(", "),
        config.capture.workers
    );
    log(&format!("sensor {:?}: {status}", config.sensor.name));
    notifier.ready(&status);

    let m = metrics.clone();
    let opts = ServiceOptions {
        stop: stop.clone(),
        reconfigure: Some(reconf_rx),
        stats_interval: config.service.stats_interval,
        sensor: Some(config.sensor.name.clone()),
        on_stats: Some(Box::new(move |s| m.update(s))),
        snapshot_interval: METRICS_PERIOD,
    };
    let result = run_service(&mut inputs, &pipeline, opts, &mut sink);
    done.store(true, Ordering::Release);
    stop.store(true, Ordering::Release);
    let _ = control.join();
    // Every event is with the sinks now; give them the rest of the
    // shutdown budget to deliver (what they cannot goes to their spool).
    drop(sink);
    // No scrape holds the router once this returns.
    metrics.clear_output_stats();
    if let Some(router) = router.and_then(|r| Arc::try_unwrap(r).ok()) {
        let report = router.shutdown(config.service.shutdown_timeout);
        log(&format!("outputs: {report:?}"));
    }
    if let Some(h) = metrics_server {
        let _ = h.join();
    }
    match result {
        Ok(outcome) => {
            let s = &outcome.stats;
            log(&format!(
                "stopped: {} frames, {} kernel drops, {} interface drops, {} flows, {} events",
                s.capture.frames,
                s.capture.kernel_drops,
                s.capture.interface_drops,
                s.flows.created,
                s.events
            ));
            match outcome.error {
                None => EXIT_OK,
                Some(e) => {
                    log(&e.to_string());
                    EXIT_INPUT
                }
            }
        }
        Err(e) => {
            log(&format!("writing events: {e}"));
            EXIT_OUTPUT
        }
    }
}

/// SIGTERM and SIGINT ask for a clean stop (a second one while stopping
/// ends the process at once); SIGHUP asks for a reload.
fn register_signals(stop: &Arc<AtomicBool>, hup: &Arc<AtomicBool>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::flag;
    for sig in [SIGTERM, SIGINT] {
        flag::register_conditional_shutdown(sig, 1, stop.clone())?;
        flag::register(sig, stop.clone())?;
    }
    flag::register(SIGHUP, hup.clone())?;
    Ok(())
}

/// The control thread's state.
struct Control {
    path: PathBuf,
    /// The configuration the service started with (what only a restart
    /// changes is compared against it).
    started: Config,
    shared: Arc<SharedSources>,
    reconf: Sender<Reconfigure>,
    notifier: Arc<Notifier>,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    shutdown_timeout: Duration,
    /// The detection policy in use (swapped on reload; the state stays).
    detect: crate::detect::DetectConfig,
    /// The output sinks, when `[outputs]` names any: files reopen on SIGHUP
    /// (logrotate moves them, then signals).
    router: Option<Arc<crate::output::sink::Router>>,
}

impl Control {
    fn run(self) {
        let watchdog = notify::watchdog_interval();
        let mut last_watchdog = Instant::now();
        let mut last_files = Instant::now();
        let mut files = self.file_watcher(&self.started);
        let mut stopping_since: Option<Instant> = None;
        if let Some(w) = watchdog {
            self.notifier.watchdog();
            log(&format!("watchdog: pinging every {w:?}"));
        }
        while !self.done.load(Ordering::Acquire) {
            std::thread::sleep(CONTROL_PERIOD);
            if self.stop.load(Ordering::Acquire) {
                let since = *stopping_since.get_or_insert_with(|| {
                    self.notifier.stopping();
                    log("stopping: capture ends, flows and outputs are flushed");
                    Instant::now()
                });
                if since.elapsed() > self.shutdown_timeout {
                    log(&format!(
                        "did not stop within {:?} (service.shutdown_timeout); exiting now",
                        self.shutdown_timeout
                    ));
                    std::process::exit(i32::from(EXIT_INPUT));
                }
            } else if self.hup.swap(false, Ordering::AcqRel) {
                if let Some(r) = &self.router {
                    r.reopen();
                }
                if let Some(w) = self.reload() {
                    files = w;
                }
            } else if last_files.elapsed() >= FILE_CHECK_PERIOD {
                last_files = Instant::now();
                match files.check() {
                    ReloadOutcome::Reloaded => {
                        log("GeoIP databases and site lists reloaded (files replaced)")
                    }
                    ReloadOutcome::Refused(why) => log(&format!(
                        "replaced database or list refused, the previous ones stay in use: {why}"
                    )),
                    ReloadOutcome::Unchanged => {}
                }
            }
            if let Some(w) = watchdog {
                if last_watchdog.elapsed() >= w {
                    last_watchdog = Instant::now();
                    self.notifier.watchdog();
                }
            }
        }
    }

    /// Watches the databases and lists a configuration names.
    fn file_watcher(&self, config: &Config) -> Reloader {
        let options = config.enrich.clone();
        let build = options.clone();
        Reloader::new(
            self.shared.clone(),
            options.watched_files(),
            Box::new(move || build.build().map(|b| b.sources)),
        )
    }

    /// Re-read the configuration; on success apply what can change while
    /// running and return the new file watcher.
    fn reload(&self) -> Option<Reloader> {
        self.notifier.reloading();
        log(&format!("SIGHUP: reloading {}", self.path.display()));
        let result = super::validate(&self.path).and_then(|new| match new.enrich.build() {
            Ok(built) => Ok((new, built)),
            Err(e) => Err(vec![format!("{}: [geoip]: {e}", self.path.display())]),
        });
        let watcher = match result {
            Err(problems) => {
                for p in problems {
                    log(&format!(
                        "reload refused, the running configuration stays: {p}"
                    ));
                }
                self.metrics.reloads_refused.fetch_add(1, Ordering::Relaxed);
                None
            }
            Ok((new, built)) => {
                self.shared.swap(built.sources);
                // The catalogue is re-read whether or not its path changed:
                // the site edits the file in place.
                let catalogue = match &new.catalogue {
                    Some(file) => match crate::catalogue::Catalogue::with_site_entries(file) {
                        Ok(c) => Some(Arc::new(c)),
                        Err(e) => {
                            log(&format!(
                                "reload: {}: catalogue.file: {e}; the running catalogue stays",
                                self.path.display()
                            ));
                            None
                        }
                    },
                    None => Some(crate::catalogue::Catalogue::shared_embedded()),
                };
                let policy = super::service_policy(&self.path, &new);
                let mut site = new.site.clone();
                match &policy {
                    Ok(p) => p.extend_site(&mut site),
                    Err(_) => self.detect.current().extend_site(&mut site),
                }
                let change = Reconfigure {
                    site: Some(site),
                    sensor: Some(new.sensor.name.clone()),
                    catalogue,
                };
                if self.reconf.send(change).is_err() {
                    return None;
                }
                let restart = self.started.restart_only_changes(&new);
                if !restart.is_empty() {
                    log(&format!(
                        "reload: changes to [{}] take effect at the next restart",
                        restart.join("], [")
                    ));
                }
                match policy {
                    Ok(policy) => {
                        log(&format!(
                            "reload: detection policy applied ({} identities)",
                            policy.identities.len()
                        ));
                        self.detect.replace(policy);
                    }
                    // validate() checked it a moment ago; a file changed in
                    // between keeps the running policy.
                    Err(problems) => {
                        for p in problems {
                            log(&format!("reload: the running detection policy stays: {p}"));
                        }
                    }
                }
                log(&format!(
                    "reloaded: sensor {:?}, site networks {:?}, GeoIP and lists, catalogue",
                    new.sensor.name, new.site_networks
                ));
                self.metrics.reloads_ok.fetch_add(1, Ordering::Relaxed);
                Some(self.file_watcher(&new))
            }
        };
        self.notifier.ready("reloaded; capturing");
        watcher
    }
}
