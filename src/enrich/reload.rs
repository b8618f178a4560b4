//! Reloading databases and lists without a restart.
//!
//! A reload is asked for by SIGHUP or happens by itself when a watched file
//! is replaced (its modification time, size or inode changes: `geoipupdate`
//! and most deployment tools write a new file and rename it over the old
//! one). The new sources are built and checked in full first; only then are
//! they swapped in, atomically, for every worker. A broken new file is
//! reported and the sources in use stay as they were.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::enrich::{EnrichSources, SharedSources};

/// Builds a fresh set of sources (opening and verifying every file).
pub type BuildSources = Box<dyn Fn() -> Result<EnrichSources, String> + Send>;

/// What identifies one version of a file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileVersion {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn version(path: &PathBuf) -> Option<FileVersion> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Some(FileVersion {
        modified: m.modified().ok(),
        len: m.len(),
        inode,
    })
}

/// The outcome of one reload attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// Nothing changed and nobody asked.
    Unchanged,
    /// New sources are in use.
    Reloaded,
    /// The new files were refused; the old sources stay in use.
    Refused(String),
}

/// Watches the files behind the shared sources and reloads them.
pub struct Reloader {
    shared: Arc<SharedSources>,
    build: BuildSources,
    watched: Vec<(PathBuf, Option<FileVersion>)>,
    requested: Arc<AtomicBool>,
}

impl Reloader {
    pub fn new(shared: Arc<SharedSources>, paths: Vec<PathBuf>, build: BuildSources) -> Reloader {
        let watched = paths
            .into_iter()
            .map(|p| {
                let v = version(&p);
                (p, v)
            })
            .collect();
        Reloader {
            shared,
            build,
            watched,
            requested: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A flag that asks for a reload at the next check (what SIGHUP sets).
    pub fn request_flag(&self) -> Arc<AtomicBool> {
        self.requested.clone()
    }

    /// Make SIGHUP ask for a reload.
    #[cfg(unix)]
    pub fn reload_on_sighup(&self) -> std::io::Result<()> {
        signal_hook::flag::register(signal_hook::consts::SIGHUP, self.requested.clone())?;
        Ok(())
    }

    /// Reload if asked to or if a watched file changed.
    pub fn check(&mut self) -> ReloadOutcome {
        let asked = self.requested.swap(false, Ordering::AcqRel);
        let mut changed = false;
        let mut now = Vec::with_capacity(self.watched.len());
        for (path, seen) in &self.watched {
            let v = version(path);
            changed |= v != *seen;
            now.push(v);
        }
        if !asked && !changed {
            return ReloadOutcome::Unchanged;
        }
        // Remember what was seen even when the build fails, so that a broken
        // file is reported once, not at every check until it is fixed.
        for ((_, seen), v) in self.watched.iter_mut().zip(now) {
            *seen = v;
        }
        match (self.build)() {
            Ok(sources) => {
                self.shared.swap(sources);
                ReloadOutcome::Reloaded
            }
            Err(e) => ReloadOutcome::Refused(e),
        }
    }

    /// Check every `interval` on a thread of its own until `stop` is set;
    /// each outcome other than `Unchanged` goes to `report`.
    pub fn spawn(
        mut self,
        interval: Duration,
        stop: Arc<AtomicBool>,
        report: impl Fn(&ReloadOutcome) + Send + 'static,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("gatewatch-reload".into())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    std::thread::sleep(interval);
                    let outcome = self.check();
                    if outcome != ReloadOutcome::Unchanged {
                        report(&outcome);
                    }
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::lists::SiteLists;
    use std::net::IpAddr;

    fn build_from(path: PathBuf) -> BuildSources {
        Box::new(move || {
            let lists =
                SiteLists::load_all(std::slice::from_ref(&path)).map_err(|e| e.to_string())?;
            Ok(EnrichSources {
                lists,
                ..EnrichSources::default()
            })
        })
    }

    fn label(shared: &SharedSources, addr: &str) -> Option<String> {
        let a: IpAddr = addr.parse().unwrap();
        shared
            .load()
            .lookup(a)
            .labels
            .first()
            .map(|m| m.label.to_string())
    }

    #[test]
    fn replaced_file_is_reloaded_and_a_broken_one_refused() {
        let dir = std::env::temp_dir().join(format!("gatewatch-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("exits.txt");
        std::fs::write(&path, "198.51.100.0/24 first\n").unwrap();
        let build = build_from(path.clone());
        let shared = SharedSources::new(build().unwrap());
        let mut r = Reloader::new(shared.clone(), vec![path.clone()], build_from(path.clone()));
        assert_eq!(r.check(), ReloadOutcome::Unchanged);
        assert_eq!(label(&shared, "198.51.100.1").as_deref(), Some("first"));

        // Replaced the way deployment tools do it: write a new file, rename.
        let tmp = dir.join("exits.txt.new");
        std::fs::write(&tmp, "198.51.100.0/24 second\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let gen = shared.generation();
        assert_eq!(r.check(), ReloadOutcome::Reloaded);
        assert_eq!(shared.generation(), gen + 1);
        assert_eq!(label(&shared, "198.51.100.1").as_deref(), Some("second"));

        // A broken replacement: refused with the file and line, old one kept.
        std::fs::write(&tmp, "198.51.100.0/99 broken\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        match r.check() {
            ReloadOutcome::Refused(e) => assert!(e.contains("exits.txt:1"), "{e}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(label(&shared, "198.51.100.1").as_deref(), Some("second"));
        // Reported once: the next check sees no new change.
        assert_eq!(r.check(), ReloadOutcome::Unchanged);

        // An explicit request (SIGHUP) reloads even without a change.
        std::fs::write(&path, "198.51.100.0/24 third\n").unwrap();
        r.check();
        r.request_flag().store(true, Ordering::Release);
        assert_eq!(r.check(), ReloadOutcome::Reloaded);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn sighup_asks_for_a_reload() {
        let shared = SharedSources::new(EnrichSources::default());
        let r = Reloader::new(
            shared,
            Vec::new(),
            Box::new(|| Ok(EnrichSources::default())),
        );
        r.reload_on_sighup().unwrap();
        signal_hook::low_level::raise(signal_hook::consts::SIGHUP).unwrap();
        assert!(r.request_flag().load(Ordering::Acquire));
    }
}
