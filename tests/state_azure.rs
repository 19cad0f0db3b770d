//! The `azurerm` state backend against Azurite, the Azure Storage emulator,
//! started by each test on a free loopback port (from `npm ci`'s
//! node_modules) and killed when the test ends.

use crate::support::cli_common;
use crate::support::entra_common;

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entra_common::{STORAGE_AUDIENCE, TokenEndpoint, access_token};

use async_trait::async_trait;
use pim::graph::{ErrorKind, GraphError, StaticToken, Token, TokenSource};
use pim::model::{Address, AssignmentKind, BlockKind};
use pim::state::{
    AzureAuth, AzureBackend, AzureError, AzureSettings, LeaseTiming, Resource, STORAGE_SCOPE,
    Secret, StateError, StateFile,
};

/// The tenant the test tokens come from.
const TENANT: &str = "3f2a7c1e-5b4d-4e8f-9a6b-0c1d2e3f4a5b";

/// Azurite's well-known development account.
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running Azurite blob service; killed on drop.
struct Azurite {
    child: Child,
    endpoint: String,
    dir: PathBuf,
    /// The CA of its certificate, when it serves https.
    ca_pem: Option<String>,
}

impl Azurite {
    fn start(name: &str) -> Azurite {
        Self::start_with(name, |_| Vec::new())
    }

    /// Azurite over https with its basic OAuth, which takes bearer tokens
    /// beside keys and SAS tokens (see [`entra_common::access_token`]).
    fn start_with_oauth(name: &str) -> (Azurite, entra_common::Tls) {
        let mut tls = None;
        let mut azurite = Self::start_with(name, |dir| {
            let t = entra_common::Tls::new(dir);
            let args = vec![
                "--oauth".into(),
                "basic".into(),
                "--cert".into(),
                t.cert_file.clone().into(),
                "--key".into(),
                t.key_file.clone().into(),
            ];
            tls = Some(t);
            args
        });
        let tls = tls.expect("made before Azurite started");
        azurite.ca_pem = Some(tls.ca_pem.clone());
        (azurite, tls)
    }

    fn start_with(
        name: &str,
        extra: impl FnOnce(&std::path::Path) -> Vec<std::ffi::OsString>,
    ) -> Azurite {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let bin = root.join("node_modules/.bin/azurite-blob");
        assert!(
            bin.exists(),
            "{} is missing: run `npm ci` in {} to install Azurite (the Azure Storage \
             emulator these tests run against)",
            bin.display(),
            root.display()
        );
        // Azurite may write logs or a database in its working directory.
        let dir = std::env::temp_dir().join(format!("pim-azurite-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new(&bin)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "0",
                "--inMemoryPersistence",
                "--loose",
                "--silent",
                "--disableTelemetry",
            ])
            .args(extra(&dir))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
        // Port 0: Azurite prints the port it got.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(i) = line.find("listens on http") {
                    let url = line[i + "listens on ".len()..].trim().to_string();
                    let _ = tx.send(url);
                    sent = true;
                }
            }
        });
        let mut azurite = Azurite {
            child,
            endpoint: String::new(),
            dir,
            ca_pem: None,
        };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => azurite.endpoint = format!("{url}/{ACCOUNT}"),
            Err(_) => panic!("Azurite did not start listening within 60 s"),
        }
        azurite
    }

    fn settings(&self, container: &str) -> AzureSettings {
        let mut s = AzureSettings::new(
            ACCOUNT,
            container,
            "pim.state.json",
            AzureAuth::SharedKey(Secret::new(KEY)),
        );
        s.endpoint = Some(self.endpoint.clone());
        s.ca_pem = self.ca_pem.clone();
        s
    }

    fn backend(&self, container: &str) -> AzureBackend {
        AzureBackend::new(self.settings(container)).unwrap()
    }

    /// A backend on a fresh container.
    async fn fresh(&self, container: &str) -> AzureBackend {
        let b = self.backend(container);
        assert!(b.create_container().await.unwrap());
        b
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn state(serial: u64) -> StateFile {
    let mut s = StateFile::new("5f0c7b9e-lineage".into());
    s.serial = serial;
    s.resources.push(Resource {
        surface: pim::model::SurfaceKind::DirectoryRole,
        address: Address::new(BlockKind::Eligibility, "alice_ga"),
        kind: Some(AssignmentKind::Eligible),
        schedule_id: Some("sched-1".into()),
        request_id: Some("req-1".into()),
        principal_id: "00000000-0000-0000-0000-00000000000a".into(),
        role_id: "62e90394-69f5-4237-9190-012177145e10".into(),
        scope_id: "/".into(),
        attributes: serde_json::json!({ "duration": "P180D" }),
    });
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_blob_loads_as_none() {
    let az = Azurite::start("missing");
    let b = az.backend("missing");
    let err = b.load().await.unwrap_err();
    assert!(
        matches!(err, StateError::Azure(AzureError::ContainerNotFound { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("does not exist"), "{err}");

    assert!(b.create_container().await.unwrap());
    assert!(!b.create_container().await.unwrap(), "already there");
    assert_eq!(b.load().await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_and_load_round_trip() {
    let az = Azurite::start("roundtrip");
    let b = az.fresh("roundtrip").await;
    let lock = b.lock("apply").await.unwrap();
    // The lock made an empty placeholder to lease: still no state.
    assert_eq!(b.load().await.unwrap(), None);

    b.save(&lock, &state(1)).await.unwrap();
    let other = az.backend("roundtrip");
    assert_eq!(other.load().await.unwrap(), Some(state(1)));
    b.save(&lock, &state(2)).await.unwrap();
    assert_eq!(other.load().await.unwrap(), Some(state(2)));
    lock.release().await.unwrap();

    // Released: the next run locks, reads and writes.
    let lock = other.lock("apply").await.unwrap();
    assert_eq!(other.load().await.unwrap(), Some(state(2)));
    other.save(&lock, &state(3)).await.unwrap();
    lock.release().await.unwrap();
    assert_eq!(b.load().await.unwrap(), Some(state(3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_lock_fails_fast_naming_the_holder() {
    let az = Azurite::start("second");
    let a = az.fresh("second").await;
    let held = a.lock("apply").await.unwrap();

    let b = az.backend("second");
    let started = Instant::now();
    let err = b.lock("plan").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "fails fast");
    assert!(matches!(err, StateError::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("is locked by"), "{msg}");
    assert!(msg.contains(&held.info.owner), "{msg}");
    assert!(
        msg.contains(&format!("(pid {}, apply) since", std::process::id())),
        "{msg}"
    );
    assert!(msg.contains(held.id()), "the id to unlock with: {msg}");

    held.release().await.unwrap();
    b.lock("plan").await.unwrap().release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_lock_is_released() {
    let az = Azurite::start("dropped");
    let a = az.fresh("dropped").await;
    let held = a.lock("apply").await.unwrap();
    drop(held);
    let b = az.backend("dropped");
    let again = b.lock("apply").await.unwrap();
    again.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_keeps_the_lock_past_the_lease_duration() {
    let az = Azurite::start("renew");
    let mut s = az.settings("renew");
    // The shortest lease the service allows, renewed often.
    s.lease = LeaseTiming {
        duration: Duration::from_secs(15),
        renew_every: Duration::from_secs(3),
    };
    let a = AzureBackend::new(s).unwrap();
    a.create_container().await.unwrap();
    let lock = a.lock("apply").await.unwrap();
    tokio::time::sleep(Duration::from_secs(17)).await;

    assert!(lock.renewals() >= 4, "renewed {} times", lock.renewals());
    assert!(!lock.is_lost());
    assert_eq!(lock.last_renewal_error(), None);
    let err = az.backend("renew").lock("plan").await.unwrap_err();
    assert!(matches!(err, StateError::Locked { .. }), "{err}");
    a.save(&lock, &state(1)).await.unwrap();
    lock.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_with_a_stale_etag_fails() {
    let az = Azurite::start("stale");
    let a = az.fresh("stale").await;
    let lock = a.lock("apply").await.unwrap();
    a.save(&lock, &state(1)).await.unwrap();
    assert_eq!(a.load().await.unwrap(), Some(state(1)));

    // Another writer gets in (with the same lease, as a second task of the
    // same run could) and changes the blob behind a's back.
    let racer = az.backend("stale");
    racer.save(&lock, &state(7)).await.unwrap();

    let err = a.save(&lock, &state(2)).await.unwrap_err();
    assert!(
        matches!(err, StateError::Azure(AzureError::Stale { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("changed since pim last read it"));
    assert_eq!(racer.load().await.unwrap(), Some(state(7)), "not clobbered");
    lock.release().await.unwrap();

    // A read made before another run wrote is stale too, caught at lock time.
    let early = az.backend("stale");
    assert_eq!(early.load().await.unwrap(), Some(state(7)));
    let lock = a.lock("apply").await.unwrap();
    a.load().await.unwrap();
    a.save(&lock, &state(8)).await.unwrap();
    lock.release().await.unwrap();
    let err = early.lock("apply").await.unwrap_err();
    assert!(
        matches!(err, StateError::Azure(AzureError::Stale { .. })),
        "{err:?}"
    );
    // The failed lock let go of the lease.
    a.lock("apply").await.unwrap().release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_without_the_lease_fails() {
    let az = Azurite::start("nolease");
    let a = az.fresh("nolease").await;
    let lock = a.lock("apply").await.unwrap();
    a.save(&lock, &state(1)).await.unwrap();

    // Someone breaks the lock: a's next write must not land.
    let b = az.backend("nolease");
    b.force_unlock(lock.id()).await.unwrap();
    let err = a.save(&lock, &state(2)).await.unwrap_err();
    assert!(
        matches!(err, StateError::Azure(AzureError::LeaseLost { .. })),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("no longer holds the lease"),
        "{err}"
    );

    // And not after another run took the lock either.
    let theirs = b.lock("apply").await.unwrap();
    let err = a.save(&lock, &state(3)).await.unwrap_err();
    assert!(
        matches!(err, StateError::Azure(AzureError::LeaseLost { .. })),
        "{err:?}"
    );
    assert_eq!(b.load().await.unwrap(), Some(state(1)));
    // a's release fails and leaves the new holder alone.
    assert!(lock.release().await.is_err());
    let err = az.backend("nolease").lock("plan").await.unwrap_err();
    assert!(err.to_string().contains(theirs.id()), "{err}");
    theirs.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_unlock_needs_the_holders_id() {
    let az = Azurite::start("unlock");
    let a = az.fresh("unlock").await;
    let b = az.backend("unlock");
    let err = b.force_unlock("anything").await.unwrap_err();
    assert!(
        matches!(err, StateError::Azure(AzureError::NotLocked { .. })),
        "{err:?}"
    );

    let lock = a.lock("apply").await.unwrap();
    let err = b.force_unlock("not-the-id").await.unwrap_err();
    assert!(
        matches!(err, StateError::Azure(AzureError::UnlockMismatch { .. })),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(lock.id()) && msg.contains("apply"), "{msg}");
    assert!(matches!(
        b.lock("plan").await.unwrap_err(),
        StateError::Locked { .. }
    ));

    let broken = b.force_unlock(lock.id()).await.unwrap();
    assert_eq!(broken, lock.info);
    let mine = b.lock("plan").await.unwrap();
    mine.release().await.unwrap();
    drop(lock);
}

/// An account SAS for the blob service, signed with the account key as the
/// portal or `az storage account generate-sas` would.
fn account_sas() -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let (sp, ss, srt, se, sv) = ("rwdlac", "b", "sco", "2099-01-01T00:00:00Z", "2021-08-06");
    // account, permissions, services, resource types, start, expiry, IP,
    // protocol, version, encryption scope, and a final newline.
    let to_sign = format!("{ACCOUNT}\n{sp}\n{ss}\n{srt}\n\n{se}\n\n\n{sv}\n\n");
    let key = base64::engine::general_purpose::STANDARD
        .decode(KEY)
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let sig: String = url::form_urlencoded::byte_serialize(sig.as_bytes()).collect();
    format!("?sv={sv}&ss={ss}&srt={srt}&sp={sp}&se={se}&sig={sig}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sas_token_is_enough_for_a_whole_run() {
    let az = Azurite::start("sas");
    az.fresh("sas").await;
    let mut s = az.settings("sas");
    s.auth = AzureAuth::Sas(Secret::new(account_sas()));
    let b = AzureBackend::new(s).unwrap();
    assert_eq!(b.load().await.unwrap(), None);
    let lock = b.lock("apply").await.unwrap();
    b.save(&lock, &state(1)).await.unwrap();
    assert_eq!(b.load().await.unwrap(), Some(state(1)));
    let err = az.backend("sas").lock("plan").await.unwrap_err();
    assert!(matches!(err, StateError::Locked { .. }), "{err}");
    lock.release().await.unwrap();
    let lock = b.lock("apply").await.unwrap();
    b.force_unlock(lock.id()).await.unwrap();
    drop(lock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_stay_out_of_errors_and_debug_output() {
    let az = Azurite::start("secrets");
    az.fresh("secrets").await;

    // A wrong key: the service refuses, the error names neither key.
    let wrong = "d3Jvbmcta2V5LW1hdGVyaWFsLXRoYXQtaXMtc2VjcmV0";
    let mut s = az.settings("secrets");
    s.auth = AzureAuth::SharedKey(Secret::new(wrong));
    let dbg = format!("{s:?}");
    assert!(!dbg.contains(wrong), "{dbg}");
    let b = AzureBackend::new(s).unwrap();
    assert!(!format!("{b:?}").contains(wrong));
    let err = b.load().await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("403"), "{text}");
    assert!(!text.contains(wrong) && !text.contains(KEY), "{text}");

    // A bad SAS token.
    let sig = "SuperSecretSignature0123456789abcdefXYZ%3D";
    let sas = format!("sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig={sig}");
    let mut s = az.settings("secrets");
    s.auth = AzureAuth::Sas(Secret::new(format!("?{sas}")));
    assert!(!format!("{s:?}").contains("SuperSecret"));
    let err = AzureBackend::new(s).unwrap().load().await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("403"), "{text}");
    assert!(!text.contains("SuperSecret"), "{text}");

    // Nothing listening: the transport error must not show the URL's SAS.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s = az.settings("secrets");
    s.endpoint = Some(format!("http://127.0.0.1:{port}/{ACCOUNT}"));
    s.auth = AzureAuth::Sas(Secret::new(sas.clone()));
    let err = AzureBackend::new(s).unwrap().load().await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        matches!(err, StateError::Azure(AzureError::Transport { .. })),
        "{text}"
    );
    assert!(!text.contains("SuperSecret"), "{text}");
    assert!(text.contains("onnect"), "says why: {text}");

    // A bearer token is not echoed either; a failing source is reported.
    let token_source = Arc::new(StaticToken("eyJ0eXAiOiJKV1QiSecretToken".to_string()));
    let mut s = az.settings("secrets");
    s.auth = AzureAuth::Token(token_source);
    let err = AzureBackend::new(s).unwrap().load().await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("SecretToken"), "{text}");
    let failing = Arc::new(NoCredential);
    let mut s = az.settings("secrets");
    s.auth = AzureAuth::Token(failing);
    let err = AzureBackend::new(s).unwrap().load().await.unwrap_err();
    assert!(
        matches!(err, StateError::Azure(AzureError::Token { .. })),
        "{err:?}"
    );
}

/// `pim apply` with `state { backend = "azurerm" … endpoint = … }`: the
/// endpoint comes from the file, the key from the environment; a second
/// apply while the first runs fails at once on the lease, naming the first.
#[test]
fn a_second_apply_fails_fast_on_the_lease_naming_the_first() {
    let az = Azurite::start("cli");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(az.fresh("pim-cli"));
    // Slow Graph answers keep the first run going while the second starts.
    let dir = cli_common::contoso("azurerm", Some(150));
    let config = dir.join("contoso.pim.hcl");
    let text = std::fs::read_to_string(&config).unwrap();
    let state_block = "state {\n  backend = \"local\"\n  path    = \"pim.state.json\"\n}\n";
    assert!(text.contains(state_block));
    let azurerm = format!(
        "state {{\n  backend   = \"azurerm\"\n  account   = \"{ACCOUNT}\"\n  container = \"pim-cli\"\n  blob      = \"contoso/pim.state.json\"\n  endpoint  = \"{}\"\n}}\n",
        az.endpoint
    );
    std::fs::write(&config, text.replace(state_block, &azurerm)).unwrap();
    let env = [("AZURE_STORAGE_KEY", KEY)];

    let cli_common::Concurrent {
        pid,
        first,
        second,
        second_ended_first,
    } = cli_common::concurrent_applies(&dir, &env);
    let err = cli_common::text(&second);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains("is locked by"), "{err}");
    assert!(
        err.contains(&format!("(pid {pid}, apply)")),
        "names the first run's process: {err}"
    );
    assert!(
        err.contains("lock id"),
        "says what pim state unlock takes: {err}"
    );
    assert!(
        second_ended_first,
        "the second run failed at once instead of waiting for the lease"
    );
    assert_eq!(first.status.code(), Some(0), "{}", cli_common::text(&first));
    assert!(
        !dir.join("pim.state.json").exists(),
        "the state went to the blob, not to a local file"
    );

    let mut settings = az.settings("pim-cli");
    settings.blob = "contoso/pim.state.json".into();
    let saved = rt
        .block_on(AzureBackend::new(settings).unwrap().load())
        .unwrap()
        .expect("the state is in the blob");
    assert!(
        saved
            .resources
            .iter()
            .any(|r| r.address.to_string() == "eligibility.trent_exchange"),
        "{saved:?}"
    );
    let out = cli_common::pim(&dir, &["plan", "--detailed-exitcode"], &env)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", cli_common::text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A token source that has no credential to sign in with.
struct NoCredential;

#[async_trait]
impl TokenSource for NoCredential {
    async fn token(&self, _scope: &str) -> Result<Token, GraphError> {
        Err(GraphError::new(
            ErrorKind::Auth,
            "get a token",
            "no credential in the chain",
        ))
    }

    fn describe(&self) -> String {
        "no credential".into()
    }
}

/// A token source handing out one token and noting the scopes asked for.
struct FixedToken {
    token: String,
    scopes: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl TokenSource for FixedToken {
    async fn token(&self, scope: &str) -> Result<Token, GraphError> {
        self.scopes.lock().unwrap().push(scope.to_string());
        Ok(Token {
            secret: self.token.clone(),
            expires: Instant::now() + Duration::from_secs(3600),
        })
    }

    fn describe(&self) -> String {
        "a fixed token".into()
    }
}

/// A token source handing out `token` and noting the scopes asked for.
fn fixed_token(token: String, scopes: Arc<Mutex<Vec<String>>>) -> AzureAuth {
    AzureAuth::Token(Arc::new(FixedToken { token, scopes }))
}

// Entra ID sign-in is tested against Azurite's basic OAuth (`--oauth basic`,
// https only). What it checks, from its BlobTokenAuthenticator (3.35): the
// request came over https with `Authorization: Bearer`; the token decodes as
// a JWT carrying `iat`, `nbf` and `exp`, and now lies between `nbf` and
// `exp`; `iss` starts with https://sts.windows.net/ (or another cloud's STS;
// the tenant is not compared); `aud` is https://storage.azure.com, the
// storage app id or the account's own blob URL. It checks no signature,
// scope or role, and not the x-ms-version either: the data role the README
// names is Azure's check, not Azurite's.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_id_tokens_are_enough_for_a_whole_run() {
    let (az, _tls) = Azurite::start_with_oauth("entra");
    // The key over https: the client trusts the test's CA.
    az.fresh("entra").await;
    let scopes = Arc::new(Mutex::new(Vec::new()));
    let mut s = az.settings("entra");
    s.auth = fixed_token(access_token(TENANT, STORAGE_AUDIENCE, 3600), scopes.clone());
    let b = AzureBackend::new(s).unwrap();

    assert_eq!(b.load().await.unwrap(), None);
    let lock = b.lock("apply").await.unwrap();
    b.save(&lock, &state(1)).await.unwrap();
    assert_eq!(b.load().await.unwrap(), Some(state(1)));
    let err = az.backend("entra").lock("plan").await.unwrap_err();
    assert!(matches!(err, StateError::Locked { .. }), "{err}");
    assert!(err.to_string().contains(lock.id()), "{err}");
    lock.release().await.unwrap();
    let lock = b.lock("apply").await.unwrap();
    b.force_unlock(lock.id()).await.unwrap();
    drop(lock);
    let scopes = scopes.lock().unwrap().clone();
    assert!(scopes.len() >= 8, "a token for every request: {scopes:?}");
    assert!(scopes.iter().all(|s| s == STORAGE_SCOPE), "{scopes:?}");

    // Tokens the service must refuse are refused, and not echoed.
    for (token, why) in [
        (
            access_token(TENANT, "https://graph.microsoft.com", 3600),
            "Graph's audience",
        ),
        (access_token(TENANT, STORAGE_AUDIENCE, -120), "expired"),
    ] {
        let mut s = az.settings("entra");
        s.auth = fixed_token(token.clone(), Arc::default());
        let err = AzureBackend::new(s).unwrap().load().await.unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(
            matches!(
                err,
                StateError::Azure(AzureError::Http {
                    status: 403,
                    ref code,
                    ..
                }) if code.as_deref() == Some("AuthenticationFailed")
            ),
            "{why}: {text}"
        );
        let payload = token.split('.').nth(1).unwrap();
        assert!(!text.contains(payload), "{why}: {text}");
    }
}

/// `pim apply` with `state { backend = "azurerm" }` and neither a key nor a
/// SAS token: pim signs in to Entra ID with the client secret `--auth`
/// names, at the authority `AZURE_AUTHORITY_HOST` gives, for a storage
/// token, and trusts Azurite's certificate through `PIM_CA_CERT`.
#[test]
fn apply_signs_in_to_entra_id_for_blob_state_without_a_key_or_sas() {
    let (az, tls) = Azurite::start_with_oauth("cli-entra");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(az.fresh("pim-entra"));
    let (client_id, secret) = ("5a8e2f1c-pim-state", "state-client-secret-value");
    let sts = TokenEndpoint::start(&tls, TENANT, client_id, secret);

    let dir = cli_common::contoso("azurerm-entra", None);
    let config = dir.join("contoso.pim.hcl");
    let text = std::fs::read_to_string(&config).unwrap();
    let state_block = "state {\n  backend = \"local\"\n  path    = \"pim.state.json\"\n}\n";
    assert!(text.contains(state_block));
    let azurerm = format!(
        "state {{\n  backend   = \"azurerm\"\n  account   = \"{ACCOUNT}\"\n  container = \"pim-entra\"\n  endpoint  = \"{}\"\n}}\n",
        az.endpoint
    );
    std::fs::write(&config, text.replace(state_block, &azurerm)).unwrap();
    let ca = tls.ca_file.to_string_lossy().into_owned();
    let env = [
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", client_id),
        ("AZURE_CLIENT_SECRET", secret),
        ("AZURE_AUTHORITY_HOST", sts.authority.as_str()),
        ("PIM_CA_CERT", ca.as_str()),
    ];
    let pim = |args: &[&str]| {
        let mut c = cli_common::pim(&dir, args, &env);
        for var in [
            "AZURE_STORAGE_KEY",
            "ARM_ACCESS_KEY",
            "AZURE_STORAGE_SAS_TOKEN",
            "AZURE_FEDERATED_TOKEN_FILE",
            "IDENTITY_ENDPOINT",
            "MSI_ENDPOINT",
        ] {
            c.env_remove(var);
        }
        c.output().unwrap()
    };

    let out = pim(&["apply", "--auto-approve", "--auth", "client-secret"]);
    let said = cli_common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(!said.contains(secret), "{said}");
    assert!(
        !dir.join("pim.state.json").exists(),
        "the state went to the blob"
    );
    let saved = rt
        .block_on(az.backend("pim-entra").load())
        .unwrap()
        .expect("the state is in the blob");
    assert!(
        saved
            .resources
            .iter()
            .any(|r| r.address.to_string() == "eligibility.trent_exchange"),
        "{saved:?}"
    );

    // Read back the same way: nothing left to do, and state subcommands
    // take --auth too.
    let out = pim(&["plan", "--detailed-exitcode", "--auth", "client-secret"]);
    assert_eq!(out.status.code(), Some(0), "{}", cli_common::text(&out));
    let out = pim(&["state", "list", "--auth", "client-secret"]);
    assert_eq!(out.status.code(), Some(0), "{}", cli_common::text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("eligibility.trent_exchange"),
        "{}",
        cli_common::text(&out)
    );
    // Graph is the embedded emulator's: the sign-in was for storage alone.
    let scopes = sts.scopes();
    assert_eq!(
        scopes, [STORAGE_SCOPE; 3],
        "one sign-in per run, its token reused"
    );

    // The chosen method holds: without a secret it says what is missing.
    let mut c = cli_common::pim(&dir, &["state", "list", "--auth", "client-secret"], &env);
    c.env_remove("AZURE_CLIENT_SECRET");
    for var in [
        "AZURE_STORAGE_KEY",
        "ARM_ACCESS_KEY",
        "AZURE_STORAGE_SAS_TOKEN",
    ] {
        c.env_remove(var);
    }
    let out = c.output().unwrap();
    let said = cli_common::text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("AZURE_CLIENT_SECRET is not set"), "{said}");
    assert!(said.contains("AZURE_STORAGE_KEY"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
