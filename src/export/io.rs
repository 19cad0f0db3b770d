//! What an export reads from the tenant (the snapshot and every approver
//! its policies name) and writes to disk (an empty directory of
//! configuration and state).

use std::path::{Path, PathBuf};

use super::{Export, ExportOptions, export};
use crate::config::{self, TenantSettings};
use crate::graph::{Graph, GraphError};
use crate::model::ObjectId;
use crate::snapshot::{self, Current, ReadOptions};
use crate::state::{LocalBackend, StateError};

/// The state file an export writes beside its configuration.
const STATE_FILE: &str = "pim.state.json";

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{} already holds configuration or state; export into an empty directory", .0.display())]
    NotEmpty(PathBuf),
    // Boxed, as Graph's and the state's errors are large.
    #[error(transparent)]
    Graph(Box<GraphError>),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    State(Box<StateError>),
}

impl From<GraphError> for ExportError {
    fn from(e: GraphError) -> Self {
        ExportError::Graph(Box::new(e))
    }
}

impl From<StateError> for ExportError {
    fn from(e: StateError) -> Self {
        ExportError::State(Box::new(e))
    }
}

/// Refuses a directory that already holds configuration or state: an
/// export never overwrites what is managed.
pub fn ensure_empty(dir: &Path) -> Result<(), ExportError> {
    let taken = std::fs::read_dir(dir).is_ok_and(|mut d| {
        d.any(|e| {
            e.is_ok_and(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(config::FILE_SUFFIX)
                    || e.file_name() == STATE_FILE
            })
        })
    });
    if taken {
        return Err(ExportError::NotEmpty(dir.to_path_buf()));
    }
    Ok(())
}

/// The `tenant` block an export writes, from the one it was read with; an
/// emulator seed by its absolute path, so the export works from anywhere.
pub fn tenant_block(t: &TenantSettings) -> Vec<(String, String)> {
    let mut block: Vec<(String, String)> = Vec::new();
    let q = |s: &str| format!("{s:?}");
    if let Some(id) = &t.id {
        block.push(("id".into(), q(id)));
    }
    if let Some(e) = &t.emulator {
        block.push((
            "emulator".into(),
            q(&std::fs::canonicalize(e)
                .unwrap_or_else(|_| e.clone())
                .display()
                .to_string()),
        ));
    }
    for (k, v) in [
        ("graph_url", &t.graph_url),
        ("authority_host", &t.authority_host),
    ] {
        if let Some(v) = v {
            block.push((k.into(), q(v)));
        }
    }
    block
}

/// The tenant as an export needs it: every role's grants and policies, and
/// every principal they name.
pub async fn read(
    graph: &dyn Graph,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Current, GraphError> {
    let mut current = snapshot::read(graph, &ReadOptions::all(now)).await?;
    // Approvers are named like holders, so fetch any the snapshot did not need.
    let missing: Vec<ObjectId> = current
        .policies
        .values()
        .filter_map(|p| p.rules.approval())
        .flat_map(|a| {
            a.stages
                .iter()
                .flat_map(|s| s.primary_approvers.iter().map(|ap| ap.id().clone()))
        })
        .filter(|id| !current.principals.contains_key(id))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !missing.is_empty() {
        for p in graph.principals_by_ids(&missing).await? {
            current.principals.insert(p.id.clone(), p);
        }
    }
    Ok(current)
}

/// Reads the tenant and writes it into `dir` as configuration and state;
/// returns what was written.
pub async fn export_to(
    graph: &dyn Graph,
    opts: &ExportOptions,
    dir: &Path,
) -> Result<Export, ExportError> {
    let current = read(graph, opts.now).await?;
    let out = export(&current, &crate::graph::default_rule_set(), opts);
    out.write(dir)?;
    Ok(out)
}

impl Export {
    /// Writes the configuration files and the state into `dir`, made if
    /// need be.
    pub fn write(&self, dir: &Path) -> Result<(), ExportError> {
        std::fs::create_dir_all(dir)?;
        for (name, text) in &self.files {
            std::fs::write(dir.join(name), text)?;
        }
        LocalBackend::new(dir.join(STATE_FILE)).save(&self.state)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_with_configuration_or_state_is_refused() {
        let dir = std::env::temp_dir().join(format!("pim-export-empty-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(ensure_empty(&dir).is_ok(), "one not there yet is empty");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("notes.txt"), "").unwrap();
        assert!(ensure_empty(&dir).is_ok());
        for taken in ["main.pim.hcl", STATE_FILE] {
            std::fs::write(dir.join(taken), "").unwrap();
            let err = ensure_empty(&dir).unwrap_err().to_string();
            assert!(
                err.ends_with(
                    "already holds configuration or state; export into an empty directory"
                ),
                "{err}"
            );
            std::fs::remove_file(dir.join(taken)).unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_tenant_block_quotes_what_the_source_names() {
        let t = TenantSettings {
            id: Some("contoso.onmicrosoft.com".into()),
            graph_url: Some("https://graph.example/\"v1\"".into()),
            ..TenantSettings::default()
        };
        assert_eq!(
            tenant_block(&t),
            [
                ("id".to_string(), "\"contoso.onmicrosoft.com\"".to_string()),
                (
                    "graph_url".to_string(),
                    "\"https://graph.example/\\\"v1\\\"\"".to_string()
                ),
            ]
        );
    }
}
