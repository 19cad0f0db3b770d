//! Where the configuration keeps its state: the backend it names, with
//! Entra ID sign-in for Blob state.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Desired, StateSettings, TenantSettings};
use crate::graph::{
    AuthMethod, AzureCredential, ErrorKind, GraphError, GraphSettings, HttpGraph, Token,
    TokenCache, TokenSource,
};
use crate::state::{self, Backend, OpenOptions};

/// The backend the configuration's `state` block names. Blob state with
/// neither a key nor a SAS token signs in to Entra ID as Graph does, with
/// `auth`.
pub fn backend(desired: &Desired, auth: AuthMethod) -> anyhow::Result<Arc<dyn Backend>> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let backend = open_backend(&desired.state, &desired.tenant, env, auth)?;
    tracing::debug!(state = %backend.describe(), "state backend");
    Ok(backend)
}

fn open_backend(
    settings: &StateSettings,
    tenant: &TenantSettings,
    env: HashMap<String, String>,
    auth: AuthMethod,
) -> Result<Arc<dyn Backend>, state::StateError> {
    // The extra root Graph trusts (a TLS-inspecting proxy's) serves Blob
    // Storage too.
    let ca_cert = env
        .get("PIM_CA_CERT")
        .filter(|p| !p.trim().is_empty())
        .map(PathBuf::from)
        .or_else(|| tenant.ca_cert.clone());
    let sign_in = StorageSignIn {
        tenant: tenant.clone(),
        env: env.clone(),
        auth,
        tokens: tokio::sync::OnceCell::new(),
    };
    state::open(
        settings,
        OpenOptions {
            env,
            sign_in: Some(Arc::new(sign_in)),
            ca_cert,
        },
    )
}

/// Entra ID sign-in for Blob state: the credential Graph would sign in with
/// (`--auth`, the environment, the tenant block), asking for Azure Storage
/// tokens. Made at the first request, so state that has a key or a SAS
/// token never needs one.
struct StorageSignIn {
    tenant: TenantSettings,
    env: HashMap<String, String>,
    auth: AuthMethod,
    tokens: tokio::sync::OnceCell<TokenCache>,
}

impl StorageSignIn {
    async fn tokens(&self) -> Result<&TokenCache, GraphError> {
        self.tokens
            .get_or_try_init(|| async {
                let settings = GraphSettings::from_tenant(&self.tenant, &self.env, self.auth)?;
                let client = HttpGraph::http_client(&settings)?;
                let credential = AzureCredential::new(&settings, &client)?;
                Ok(TokenCache::new(Arc::new(credential)).for_scope(state::STORAGE_SCOPE))
            })
            .await
    }
}

#[async_trait::async_trait]
impl TokenSource for StorageSignIn {
    async fn token(&self, scope: &str) -> Result<Token, GraphError> {
        if scope != state::STORAGE_SCOPE {
            return Err(GraphError::new(
                ErrorKind::Auth,
                "get an Azure Storage token",
                format!("signs in to Azure Storage only, not {scope}"),
            ));
        }
        self.tokens().await?.token(scope).await
    }

    fn describe(&self) -> String {
        format!("{} (for Azure Storage)", self.auth.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob_state() -> StateSettings {
        StateSettings::AzureRm {
            account: "contosopimstate".into(),
            container: "pim".into(),
            blob: "pim.state.json".into(),
            // Never reached: the sign-in fails first.
            endpoint: Some("http://127.0.0.1:1/contosopimstate".into()),
        }
    }

    #[tokio::test]
    async fn blob_state_with_no_key_sas_or_credential_says_what_to_set() {
        let tenant = TenantSettings::default();
        let backend = open_backend(
            &blob_state(),
            &tenant,
            HashMap::new(),
            AuthMethod::ClientSecret,
        )
        .unwrap();
        let err = backend.load().await.unwrap_err();
        assert!(
            matches!(
                err,
                state::StateError::Azure(state::AzureError::Token { .. })
            ),
            "{err:?}"
        );
        let text = format!("{:#}", anyhow::Error::from(err));
        for what in [
            "could not get a token for Azure Storage",
            "client-secret authentication needs AZURE_TENANT_ID",
            "AZURE_STORAGE_KEY",
            "AZURE_STORAGE_SAS_TOKEN",
        ] {
            assert!(text.contains(what), "{text}");
        }
        assert_eq!(
            text.matches("needs AZURE_TENANT_ID").count(),
            1,
            "said once: {text}"
        );

        // A secret that is there but incomplete never shows.
        let env = HashMap::from([
            (
                "AZURE_TENANT_ID".to_string(),
                "contoso.onmicrosoft.com".to_string(),
            ),
            (
                "AZURE_CLIENT_SECRET".to_string(),
                "hunter2-secret".to_string(),
            ),
        ]);
        let backend = open_backend(&blob_state(), &tenant, env, AuthMethod::Auto).unwrap();
        let err = format!(
            "{:#}",
            anyhow::Error::from(backend.load().await.unwrap_err())
        );
        assert!(err.contains("AZURE_CLIENT_ID"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn a_key_or_sas_token_needs_no_sign_in() {
        let env = HashMap::from([(
            "AZURE_STORAGE_SAS_TOKEN".to_string(),
            "sv=2021-08-06&sig=abc".to_string(),
        )]);
        let tenant = TenantSettings::default();
        let backend = open_backend(&blob_state(), &tenant, env, AuthMethod::ClientSecret).unwrap();
        let err = backend.load().await.unwrap_err();
        // Nothing listens there: a connection error, not a sign-in one.
        assert!(
            matches!(
                err,
                state::StateError::Azure(state::AzureError::Transport { .. })
            ),
            "{err:?}"
        );
    }
}
