//! Saved plans (`pim plan --out FILE`): the plan with its basis, written
//! atomically, read back only by a build that understands its format.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{PLAN_FORMAT_VERSION, Plan};

/// Marks a file as a pim plan, so `pim apply state.json` fails clearly.
const KIND: &str = "pim-plan";

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
        "{path} was saved by a pim whose plan format is {found}; this pim reads format {PLAN_FORMAT_VERSION}"
    )]
    Version { path: PathBuf, found: u32 },
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    kind: String,
    plan: Plan,
}

/// Writes `plan` to `path`: a temporary file beside it, synced, renamed.
pub fn write(path: &Path, plan: &Plan) -> Result<(), PlanFileError> {
    let err = |source| PlanFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let body = serde_json::to_vec_pretty(&Envelope {
        kind: KIND.into(),
        plan: plan.clone(),
    })
    .map_err(|e| err(std::io::Error::other(e)))?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(&body).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

/// Reads a saved plan.
pub fn read(path: &Path) -> Result<Plan, PlanFileError> {
    let bytes = std::fs::read(path).map_err(|source| PlanFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let not_a_plan = |reason: String| PlanFileError::NotAPlan {
        path: path.to_path_buf(),
        reason,
    };
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| not_a_plan(e.to_string()))?;
    if v.get("kind").and_then(|k| k.as_str()) != Some(KIND) {
        return Err(not_a_plan("it has no \"kind\": \"pim-plan\" marker".into()));
    }
    let found = v
        .pointer("/plan/format_version")
        .and_then(|n| n.as_u64())
        .unwrap_or(0);
    if found != u64::from(PLAN_FORMAT_VERSION) {
        return Err(PlanFileError::Version {
            path: path.to_path_buf(),
            found: u32::try_from(found).unwrap_or(u32::MAX),
        });
    }
    let env: Envelope = serde_json::from_value(v).map_err(|e| not_a_plan(e.to_string()))?;
    Ok(env.plan)
}
