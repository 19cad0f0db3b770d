//! The local backend: the state file on disk, written atomically, and a lock
//! file held with an OS advisory lock for the whole run (the kernel releases
//! it if pim dies), naming its holder for whoever waits.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use async_trait::async_trait;

use super::{Backend, HeldLock, Lock, StateError, StateFile};

/// The largest state file read: a few hundred bytes per managed grant, so
/// a million grants fit.
const MAX_STATE_FILE: u64 = 1024 * 1024 * 1024;

/// Who holds a lock, written into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub owner: String,
    pub pid: u32,
    pub operation: String,
    pub created: DateTime<Utc>,
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (pid {}, {}) since {}",
            self.owner,
            self.pid,
            self.operation,
            self.created.format("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

/// The state file at `path`, its lock at `path.lock`.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    path: PathBuf,
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct LocalLock {
    file: File,
    path: PathBuf,
    pub info: LockInfo,
}

impl Drop for LocalLock {
    fn drop(&mut self) {
        // Empty the file first so a reader never sees a stale holder, and
        // remove it before unlocking, so whoever locks the old file next
        // finds it gone and locks the one at the path instead.
        let _ = self.file.set_len(0);
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

impl LocalBackend {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LocalBackend { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".lock");
        PathBuf::from(p)
    }

    /// Reads the state; `None` when there is none yet.
    pub fn load(&self) -> Result<Option<StateFile>, StateError> {
        use crate::config::read::{ReadErrorKind, read_text_limited};
        // Read as configuration is: a FIFO in its place must not block the
        // run, a device not fill memory.
        let bytes = match read_text_limited(&self.path, MAX_STATE_FILE) {
            Ok(text) => text.into_bytes(),
            Err(e) if matches!(&e.reason, ReadErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(StateError::Io {
                    path: self.path.clone(),
                    source: std::io::Error::other(e.reason.to_string()),
                });
            }
        };
        StateFile::from_json(&bytes)
            .map(Some)
            .map_err(|reason| StateError::Corrupt {
                path: self.path.clone(),
                reason,
            })
    }

    /// Writes the state: a temporary file in the same directory, synced,
    /// then renamed over the old one, so a crash leaves the old or the new
    /// state, never a mix.
    pub fn save(&self, state: &StateFile) -> Result<(), StateError> {
        let io = |source| StateError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = self.dir();
        let body = state.to_json();
        let tmp = self.temp_path(std::process::id());
        let result = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, &self.path)?;
            // The rename is durable only once the directory is synced.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }

    /// Takes the lock or fails at once, naming the holder. Temporary files
    /// a killed pim left behind are removed once the lock is held: no one
    /// else can be writing them then.
    pub fn lock(&self, operation: &str) -> Result<LocalLock, StateError> {
        let path = self.lock_path();
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        let mut file = loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = (&file).read_to_string(&mut text);
                    let holder = serde_json::from_str::<LockInfo>(&text).ok();
                    return Err(StateError::Locked {
                        path: self.path.clone(),
                        holder: holder.map(|h| h.to_string()),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
            }
            // The previous holder removes the file as it unlocks: a lock
            // taken on the removed file locks nothing, so take it again on
            // the file now at the path.
            if still_at(&file, &path) {
                break file;
            }
        };
        self.remove_leftovers();
        let info = LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            owner: super::owner(),
            pid: std::process::id(),
            operation: operation.to_string(),
            created: Utc::now(),
        };
        let body = serde_json::to_vec_pretty(&info).unwrap_or_default();
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(&body).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(LocalLock { file, path, info })
    }

    /// The temporary file a save writes before renaming it into place.
    fn temp_path(&self, pid: u32) -> PathBuf {
        let mut name = self.temp_prefix();
        name.push_str(&pid.to_string());
        self.dir().join(name)
    }

    fn temp_prefix(&self) -> String {
        format!(
            ".{}.tmp-",
            self.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        )
    }

    fn dir(&self) -> &Path {
        self.path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }

    /// Removes temporary files of saves that never finished (pim was killed
    /// between writing and renaming). Best effort: they are never read.
    fn remove_leftovers(&self) {
        let prefix = self.temp_prefix();
        let Ok(entries) = std::fs::read_dir(self.dir()) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                tracing::info!(
                    "removing {}, left by an interrupted run",
                    e.path().display()
                );
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

#[async_trait]
impl Backend for LocalBackend {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    async fn load(&self) -> Result<Option<StateFile>, StateError> {
        LocalBackend::load(self)
    }

    async fn lock(&self, operation: &str) -> Result<Lock, StateError> {
        LocalBackend::lock(self, operation).map(Lock::new)
    }

    /// The lock file, held for the whole run, is what guards the write.
    async fn save(&self, _lock: &Lock, state: &StateFile) -> Result<(), StateError> {
        LocalBackend::save(self, state)
    }

    async fn force_unlock(&self, _id: &str) -> Result<LockInfo, StateError> {
        Err(StateError::NothingToBreak)
    }
}

#[async_trait]
impl HeldLock for LocalLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    async fn release(self: Box<Self>) -> Result<(), StateError> {
        // Dropping releases it.
        Ok(())
    }
}

/// Whether `file` is still the file at `path` (not removed or replaced).
#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Elsewhere an open file cannot be removed, so it is still there.
#[cfg(not(unix))]
fn still_at(_file: &File, _path: &Path) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_fifo_in_place_of_the_state_is_refused_without_blocking() {
        use std::os::unix::ffi::OsStrExt as _;
        let dir = std::env::temp_dir().join(format!("pim-statefifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pim.state.json");
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only reads it.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = LocalBackend::new(path).load().unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        assert!(
            LocalBackend::new(dir.join("none.json"))
                .load()
                .unwrap()
                .is_none()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pim-state-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join("pim.state.json")
    }

    #[test]
    fn saves_atomically_and_loads() {
        let b = LocalBackend::new(temp("save"));
        assert_eq!(b.load().unwrap(), None);
        let mut s = StateFile::new("lineage".into());
        s.serial = 3;
        b.save(&s).unwrap();
        assert_eq!(b.load().unwrap(), Some(s));
        let leftovers: Vec<_> = std::fs::read_dir(b.path().parent().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary files remain");
    }

    #[test]
    fn a_second_lock_fails_naming_the_holder() {
        let b = LocalBackend::new(temp("lock"));
        let held = b.lock("apply").unwrap();
        let err = b.lock("plan").unwrap_err().to_string();
        assert!(err.contains("is locked by"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(held);
        b.lock("plan").unwrap();
    }

    #[test]
    fn the_lock_clears_what_an_interrupted_save_left() {
        let b = LocalBackend::new(temp("leftover"));
        let dir = b.path().parent().unwrap().to_path_buf();
        let leftover = dir.join(".pim.state.json.tmp-4194304");
        std::fs::write(&leftover, b"{\"version\": 1, \"ser").unwrap();
        let unrelated = dir.join("notes.txt");
        std::fs::write(&unrelated, b"kept").unwrap();
        assert_eq!(b.load().unwrap(), None, "a temporary file is never state");
        let held = b.lock("apply").unwrap();
        assert!(!leftover.exists());
        assert!(unrelated.exists());
        drop(held);
        assert!(!dir.join("pim.state.json.lock").exists());
    }

    #[test]
    fn corrupt_state_is_an_error_not_a_panic() {
        let b = LocalBackend::new(temp("corrupt"));
        std::fs::write(b.path(), b"{\"version\": 1, \"serial\": ").unwrap();
        let err = b.load().unwrap_err().to_string();
        assert!(err.contains("is not a valid pim state file"), "{err}");
    }
}
