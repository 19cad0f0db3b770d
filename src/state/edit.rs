//! Editing the state by address, outside a plan: what `pim state` and
//! `pim import` change, each one write of its own under the held lock.

use super::{Backend, Lock, Resource, StateError, StateFile};
use crate::model::Address;

/// Why a resource of the state could not be shown, forgotten or recorded.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    #[error("there is no state yet")]
    NoState,
    #[error("{0} is not in the state")]
    NotFound(Address),
    #[error("{0} is already managed; remove it with pim state rm first")]
    AlreadyManaged(Address),
    #[error(transparent)]
    State(#[from] StateError),
}

impl StateFile {
    /// A state of a lineage of its own, for a first write.
    pub fn new_lineage() -> StateFile {
        StateFile::new(uuid::Uuid::new_v4().to_string())
    }

    /// Records `resource`, refusing an address already recorded.
    pub fn adopt(&mut self, resource: Resource) -> Result<(), ResourceError> {
        if self.get(&resource.address).is_some() {
            return Err(ResourceError::AlreadyManaged(resource.address));
        }
        self.resources.push(resource);
        self.resources.sort_by_key(|r| r.address.to_string());
        Ok(())
    }

    /// Forgets what is recorded at `address`, refusing an address not
    /// recorded.
    pub fn forget(&mut self, address: &Address) -> Result<(), ResourceError> {
        let before = self.resources.len();
        self.resources.retain(|r| &r.address != address);
        if self.resources.len() == before {
            return Err(ResourceError::NotFound(address.clone()));
        }
        Ok(())
    }
}

/// What the state records at `address`.
pub async fn resource(backend: &dyn Backend, address: &Address) -> Result<Resource, ResourceError> {
    backend
        .load()
        .await?
        .and_then(|s| s.get(address).cloned())
        .ok_or_else(|| ResourceError::NotFound(address.clone()))
}

/// Forgets `address` under the held lock: pim stops managing it, the
/// tenant keeps it.
pub async fn forget(
    backend: &dyn Backend,
    lock: &Lock,
    address: &Address,
) -> Result<(), ResourceError> {
    let mut state = backend.load().await?.ok_or(ResourceError::NoState)?;
    state.forget(address)?;
    state.serial += 1;
    Ok(backend.save(lock, &state).await?)
}

/// Records `resource` under the held lock, in a state of its own when
/// there is none yet.
pub async fn adopt(
    backend: &dyn Backend,
    lock: &Lock,
    resource: Resource,
) -> Result<(), ResourceError> {
    let mut state = backend.load().await?.unwrap_or_else(StateFile::new_lineage);
    state.adopt(resource)?;
    state.serial += 1;
    Ok(backend.save(lock, &state).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AssignmentKind;

    fn grant(name: &str) -> Resource {
        Resource {
            surface: crate::model::SurfaceKind::DirectoryRole,
            address: Address::parse(&format!("eligibility.{name}")).unwrap(),
            kind: Some(AssignmentKind::Eligible),
            schedule_id: Some(format!("s-{name}")),
            request_id: None,
            principal_id: "p".into(),
            role_id: "r".into(),
            scope_id: "/".into(),
            attributes: serde_json::Value::Null,
        }
    }

    #[test]
    fn adopting_keeps_addresses_sorted_and_refuses_one_recorded() {
        let mut state = StateFile::new("l".into());
        state.adopt(grant("b")).unwrap();
        state.adopt(grant("a")).unwrap();
        let names: Vec<String> = state
            .resources
            .iter()
            .map(|r| r.address.to_string())
            .collect();
        assert_eq!(names, ["eligibility.a", "eligibility.b"]);
        let err = state.adopt(grant("a")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "eligibility.a is already managed; remove it with pim state rm first"
        );
        assert_eq!(state.resources.len(), 2);
    }

    #[test]
    fn forgetting_refuses_an_address_not_recorded() {
        let mut state = StateFile::new("l".into());
        state.adopt(grant("a")).unwrap();
        let b = grant("b").address;
        assert_eq!(
            state.forget(&b).unwrap_err().to_string(),
            "eligibility.b is not in the state"
        );
        state.forget(&grant("a").address).unwrap();
        assert!(state.resources.is_empty());
    }

    #[tokio::test]
    async fn forget_and_adopt_write_the_next_serial_under_the_lock() {
        let dir = std::env::temp_dir().join(format!("pim-state-edit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let local = super::super::LocalBackend::new(dir.join("pim.state.json"));
        let backend: &dyn Backend = &local;
        let lock = backend.lock("test").await.unwrap();
        let a = grant("a").address;
        assert!(matches!(
            forget(backend, &lock, &a).await,
            Err(ResourceError::NoState)
        ));
        adopt(backend, &lock, grant("a")).await.unwrap();
        let state = backend.load().await.unwrap().unwrap();
        assert_eq!((state.serial, state.resources.len()), (1, 1));
        assert_eq!(resource(backend, &a).await.unwrap(), grant("a"));
        forget(backend, &lock, &a).await.unwrap();
        let state = backend.load().await.unwrap().unwrap();
        assert_eq!((state.serial, state.resources.len()), (2, 0));
        assert!(matches!(
            resource(backend, &a).await,
            Err(ResourceError::NotFound(_))
        ));
        lock.release().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
