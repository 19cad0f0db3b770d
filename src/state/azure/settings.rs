//! Where the state blob is and how pim authenticates to its account: the
//! account key, a SAS token, or Entra ID bearer tokens from a
//! [`TokenSource`], never shown in Debug output or errors.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::AzureError;
use crate::graph::TokenSource;
use crate::state::StateError;

/// The OAuth scope of a token for Azure Storage.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// A credential that never shows in Debug output or errors.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How pim authenticates to the storage account.
#[derive(Clone)]
pub enum AzureAuth {
    /// The account key (base64, as the portal shows it).
    SharedKey(Secret),
    /// A SAS token (the query string, with or without the leading `?`).
    Sas(Secret),
    /// Entra ID bearer tokens for [`STORAGE_SCOPE`], asked for before every
    /// request (caching is the source's business): the sign-in the Graph
    /// client uses can be plugged in here.
    Token(Arc<dyn TokenSource>),
}

impl fmt::Debug for AzureAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AzureAuth::SharedKey(_) => f.write_str("SharedKey(***)"),
            AzureAuth::Sas(_) => f.write_str("Sas(***)"),
            AzureAuth::Token(_) => f.write_str("Token(..)"),
        }
    }
}

impl AzureAuth {
    /// A key from `AZURE_STORAGE_KEY` or `ARM_ACCESS_KEY`, else a SAS token
    /// from `AZURE_STORAGE_SAS_TOKEN`, else `None` (use a token source).
    pub fn from_env() -> Option<AzureAuth> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// [`AzureAuth::from_env`] with the environment given as a map.
    pub fn from_vars(env: &HashMap<String, String>) -> Option<AzureAuth> {
        let var = |name: &str| env.get(name).filter(|v| !v.trim().is_empty());
        if let Some(key) = var("AZURE_STORAGE_KEY").or_else(|| var("ARM_ACCESS_KEY")) {
            return Some(AzureAuth::SharedKey(Secret::new(key.trim())));
        }
        var("AZURE_STORAGE_SAS_TOKEN").map(|t| AzureAuth::Sas(Secret::new(t.trim())))
    }
}

/// How long a lease lasts and how often it is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// 15 to 60 seconds, the range the Blob service allows.
    pub duration: Duration,
    /// Shorter than `duration`, with room for a failed renewal or two.
    pub renew_every: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming {
            duration: Duration::from_secs(60),
            renew_every: Duration::from_secs(20),
        }
    }
}

/// Where the state blob is and how to reach it.
#[derive(Debug, Clone)]
pub struct AzureSettings {
    pub account: String,
    pub container: String,
    pub blob: String,
    /// `https://{account}.blob.core.windows.net` when `None`; Azurite is
    /// `http://127.0.0.1:PORT/devstoreaccount1`.
    pub endpoint: Option<String>,
    pub auth: AzureAuth,
    pub lease: LeaseTiming,
    /// Extra trusted root certificates (PEM) for an https endpoint, beside
    /// the system's: a TLS-inspecting proxy's, or a test's.
    pub ca_pem: Option<String>,
}

impl AzureSettings {
    pub fn new(
        account: impl Into<String>,
        container: impl Into<String>,
        blob: impl Into<String>,
        auth: AzureAuth,
    ) -> Self {
        AzureSettings {
            account: account.into(),
            container: container.into(),
            blob: blob.into(),
            endpoint: None,
            auth,
            lease: LeaseTiming::default(),
            ca_pem: None,
        }
    }

    /// Settings for the `state` block, with the credential from
    /// [`AzureAuth::from_env`], falling back to `token` (Entra ID) when no
    /// key or SAS is set. `PIM_STORAGE_ENDPOINT` overrides the endpoint the
    /// block gives, if any.
    pub fn from_env(
        account: impl Into<String>,
        container: impl Into<String>,
        blob: impl Into<String>,
        endpoint: Option<String>,
        token: Option<Arc<dyn TokenSource>>,
    ) -> Result<Self, StateError> {
        let env = std::env::vars().collect();
        Self::from_vars(account, container, blob, endpoint, token, &env)
    }

    /// [`AzureSettings::from_env`] with the environment given as a map.
    pub fn from_vars(
        account: impl Into<String>,
        container: impl Into<String>,
        blob: impl Into<String>,
        endpoint: Option<String>,
        token: Option<Arc<dyn TokenSource>>,
        env: &HashMap<String, String>,
    ) -> Result<Self, StateError> {
        let auth = match (AzureAuth::from_vars(env), token) {
            (Some(a), _) => a,
            (None, Some(t)) => AzureAuth::Token(t),
            (None, None) => {
                return Err(AzureError::Config(
                    "no credential for the storage account: set AZURE_STORAGE_KEY (or \
                     ARM_ACCESS_KEY) or AZURE_STORAGE_SAS_TOKEN, or sign in to Entra ID"
                        .into(),
                )
                .into());
            }
        };
        let mut s = AzureSettings::new(account, container, blob, auth);
        s.endpoint = env
            .get("PIM_STORAGE_ENDPOINT")
            .filter(|e| !e.trim().is_empty())
            .cloned()
            .or(endpoint);
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn settings(pairs: &[(&str, &str)], token: bool) -> Result<AzureSettings, StateError> {
        let token = token.then(|| {
            let t: Arc<dyn TokenSource> = Arc::new(crate::graph::StaticToken("t".to_string()));
            t
        });
        AzureSettings::from_vars("acct", "pim", "s.json", None, token, &env(pairs))
    }

    #[test]
    fn a_key_then_a_sas_then_entra_id() {
        let s = settings(
            &[
                ("ARM_ACCESS_KEY", "a2V5"),
                ("AZURE_STORAGE_SAS_TOKEN", "sv=1"),
            ],
            true,
        );
        assert!(matches!(s.unwrap().auth, AzureAuth::SharedKey(_)));
        let s = settings(
            &[
                ("AZURE_STORAGE_SAS_TOKEN", "sv=1"),
                ("AZURE_STORAGE_KEY", " "),
            ],
            true,
        );
        assert!(matches!(s.unwrap().auth, AzureAuth::Sas(_)));
        let s = settings(
            &[("PIM_STORAGE_ENDPOINT", "https://127.0.0.1:1/acct")],
            true,
        )
        .unwrap();
        assert!(matches!(s.auth, AzureAuth::Token(_)));
        assert_eq!(s.endpoint.as_deref(), Some("https://127.0.0.1:1/acct"));
    }

    #[test]
    fn no_key_sas_or_sign_in_says_what_to_set() {
        let err = settings(&[], false).unwrap_err().to_string();
        for what in ["AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "Entra ID"] {
            assert!(err.contains(what), "{err}");
        }
    }
}
