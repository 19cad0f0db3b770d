//! Saved plans (`pim plan --out FILE`): the plan with its basis, written
//! atomically, read back only by a build that understands its format.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{PLAN_FORMAT_VERSION, Plan};

/// Marks a file as a pim plan, so `pim apply state.json` fails clearly.
const KIND: &str = "pim-plan";

/// The largest plan file read: a plan of every grant of a very large tenant
/// (100,000 changes at a few kilobytes each) fits well within it.
const MAX_PLAN_FILE: u64 = 1024 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot read plan file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write plan file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a pim plan file: {reason}")]
    NotAPlan { path: PathBuf, reason: String },
    #[error(
        "{path} has been changed since pim wrote it (its digest does not match); make a new plan with pim plan"
    )]
    Altered { path: PathBuf },
    #[error(
        "{path} was saved by a pim whose plan format is {found}; this pim reads format {PLAN_FORMAT_VERSION}"
    )]
    Version { path: PathBuf, found: u32 },
    /// A plan file of this format that holds what this pim no longer reads,
    /// such as a duration in years or months that an earlier pim accepted
    /// and Graph refuses: it cannot be applied as saved.
    #[error("{path} holds a plan this pim cannot apply ({reason}); make a new plan with pim plan")]
    Unreadable { path: PathBuf, reason: String },
}

/// The file as written: compact, with the plan's digest beside it, so any
/// byte changed anywhere (a corrupted or hand-edited artifact) is refused.
/// The digest proves no authorship (anyone can compute it): what apply runs
/// is checked against a fresh plan of the configuration all the same.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    kind: String,
    digest: String,
    #[serde(borrow)]
    plan: &'a serde_json::value::RawValue,
}

fn digest(plan: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    format!("sha256:{:x}", Sha256::digest(plan))
}

/// Writes `plan` to `path`: a temporary file beside it, synced, renamed.
pub fn write(path: &Path, plan: &Plan) -> Result<(), PlanFileError> {
    let err = |source| PlanFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let body = serde_json::to_string_pretty(plan).map_err(|e| err(std::io::Error::other(e)))?;
    let file = format!(
        "{{\"kind\":\"{KIND}\",\"digest\":\"{}\",\"plan\":{body}}}",
        digest(body.as_bytes())
    );
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(file.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

/// Reads a saved plan, refusing one whose bytes are not as written.
pub fn read(path: &Path) -> Result<Plan, PlanFileError> {
    // As configuration is read: a FIFO must not block, a device not fill memory.
    let text = crate::config::read::read_text_limited(path, MAX_PLAN_FILE).map_err(|e| {
        PlanFileError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.reason.to_string()),
        }
    })?;
    let bytes = text.into_bytes();
    let not_a_plan = |reason: String| PlanFileError::NotAPlan {
        path: path.to_path_buf(),
        reason,
    };
    let env: Envelope<'_> =
        serde_json::from_slice(&bytes).map_err(|e| not_a_plan(e.to_string()))?;
    if env.kind != KIND {
        return Err(not_a_plan("it has no \"kind\": \"pim-plan\" marker".into()));
    }
    // Exactly the envelope `write` makes: nothing around it, nothing between.
    let raw = env.plan.get();
    let expected = format!(
        "{{\"kind\":\"{KIND}\",\"digest\":\"{}\",\"plan\":{raw}}}",
        env.digest
    );
    if bytes != expected.as_bytes() || env.digest != digest(raw.as_bytes()) {
        return Err(PlanFileError::Altered {
            path: path.to_path_buf(),
        });
    }
    let v: serde_json::Value = serde_json::from_str(raw).map_err(|e| not_a_plan(e.to_string()))?;
    let found = v
        .get("format_version")
        .and_then(|n| n.as_u64())
        .unwrap_or(0);
    if found != u64::from(PLAN_FORMAT_VERSION) {
        return Err(PlanFileError::Version {
            path: path.to_path_buf(),
            found: u32::try_from(found).unwrap_or(u32::MAX),
        });
    }
    serde_json::from_value(v).map_err(|e| PlanFileError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            created_at: chrono::DateTime::UNIX_EPOCH,
            basis: super::super::Basis {
                config_hash: "sha256:c".into(),
                state_lineage: None,
                state_serial: None,
                snapshot_fingerprint: "sha256:s".into(),
                renew_within: None,
            },
            changes: vec![],
            unmanaged: vec![],
            summary: Default::default(),
            warnings: vec!["w".into()],
            refusals: vec![],
        }
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let dir = std::env::temp_dir().join(format!("pim-planfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plan.bin");
        write(&path, &plan()).unwrap();
        assert_eq!(read(&path).unwrap(), plan());
        let good = std::fs::read(&path).unwrap();
        let flipped = dir.join("flipped.bin");
        for i in 0..good.len() {
            for bit in [0x01u8, 0x04, 0x20] {
                let mut bad = good.clone();
                bad[i] ^= bit;
                std::fs::write(&flipped, &bad).unwrap();
                assert!(read(&flipped).is_err(), "byte {i} ^ {bit:#x} was accepted");
            }
        }
        let mut longer = good.clone();
        longer.push(b'\n');
        std::fs::write(&flipped, &longer).unwrap();
        assert!(read(&flipped).is_err(), "a trailing byte was accepted");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_saved_calendar_duration_asks_for_a_new_plan() {
        let dir = std::env::temp_dir().join(format!("pim-plancal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plan.bin");
        // As an earlier pim, which accepted weeks, saved it.
        let mut v = serde_json::to_value(plan()).unwrap();
        v["basis"]["renew_within"] = serde_json::json!("P2W");
        let body = serde_json::to_string_pretty(&v).unwrap();
        let file = format!(
            "{{\"kind\":\"{KIND}\",\"digest\":\"{}\",\"plan\":{body}}}",
            digest(body.as_bytes())
        );
        std::fs::write(&path, file).unwrap();
        let e = read(&path).unwrap_err();
        assert!(matches!(e, PlanFileError::Unreadable { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("\"P2W\" counts weeks"), "{text}");
        assert!(text.contains("write \"P14D\""), "{text}");
        assert!(text.ends_with("make a new plan with pim plan"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        use std::os::unix::ffi::OsStrExt as _;
        let dir = std::env::temp_dir().join(format!("pim-planfifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("plan.bin");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only reads it.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&fifo).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
