//! The `azurerm` backend: the state JSON in one block blob of an Azure
//! Storage account, locked with a renewed blob lease for the whole run.
//! Plain `http` endpoints are accepted only on loopback, for Azurite.

mod backend;
mod client;
mod lease;
mod settings;
mod sharedkey;
mod tls;

pub use backend::AzureBackend;
pub use lease::AzureLock;
pub use settings::{AzureAuth, AzureSettings, LeaseTiming, STORAGE_SCOPE, Secret};

/// Why the Azure backend failed. Never carries a credential: URLs are
/// shown without their query string and service messages are scrubbed.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    #[error("azurerm state backend: {0}")]
    Config(String),
    /// Could not reach the service; `detail` is the whole cause chain
    /// (without the URL, which may carry a SAS token).
    #[error("{location}: {operation}: {detail}")]
    Transport {
        location: String,
        operation: &'static str,
        detail: String,
    },
    #[error("{location}: {operation} failed: HTTP {status}{}{}",
        code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
        message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Http {
        location: String,
        operation: &'static str,
        status: u16,
        code: Option<String>,
        message: Option<String>,
    },
    #[error("the container {container:?} does not exist in the storage account {account:?}")]
    ContainerNotFound { account: String, container: String },
    #[error(
        "{location} changed since pim last read it (another pim wrote it); nothing was \
         written: run the command again"
    )]
    Stale { location: String },
    #[error(
        "{location}: pim no longer holds the lease on the state ({code}); it was broken \
         or expired, perhaps by `pim state unlock`; nothing was written"
    )]
    LeaseLost { location: String, code: String },
    /// Entra ID sign-in failed; `reason` is the credential's whole cause chain.
    #[error(
        "{location}: could not get a token for Azure Storage: {reason}; sign in to Entra ID \
         (--auth), or set AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN to use the account \
         key or a SAS token instead"
    )]
    Token { location: String, reason: String },
    /// Signed in, but the identity may not use the container's data.
    #[error(
        "{location}: {operation} was refused (HTTP 403 {code}): the signed-in identity needs \
         the Storage Blob Data Contributor role on the container (or the account)"
    )]
    Forbidden {
        location: String,
        operation: &'static str,
        code: String,
    },
    #[error(
        "{location} is locked with id {holder_id}, not {given}: {holder}; nothing was unlocked"
    )]
    UnlockMismatch {
        location: String,
        given: String,
        holder_id: String,
        holder: String,
    },
    #[error("{location} is not locked")]
    NotLocked { location: String },
}
