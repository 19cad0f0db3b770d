//! Access tokens shaped like the v1.0 tokens Entra ID issues for Microsoft
//! Graph: JWTs whose claims say who the caller is (`oid`, `idtyp`, `appid`,
//! `upn`, `amr`, `scp`/`roles`, …), so a client reads them as it reads
//! Entra's. Entra signs with RS256 and publishes its keys; the emulator
//! signs with HS256 and a key made at start, which is all it needs to
//! check its own tokens without keeping them, and makes tokens of another
//! emulator (or of a restarted one) unknown. Graph clients never verify a
//! Graph token's signature, so they see no difference.
//!
//! The opaque form (random strings kept in a table) stands in for tokens a
//! client cannot read.
//!
//! Tokens asked for with an ARM scope (`https://management.azure.com/.default`)
//! carry ARM's audience: the ARM routes take only those, Graph's only Graph's.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::TryRngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Caller;
use super::error::{ApiError, EmulatorError};
use super::permissions::Permissions;

/// The resource every token is for: v1.0 tokens name Graph by its URI.
/// (A token asked for with the app id GUID as audience carries
/// `00000003-0000-0000-c000-000000000000` instead; pim never asks that way.)
pub(crate) const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";

/// What an ARM token names as its audience (v1.0 tokens asked for with
/// `https://management.azure.com/.default`).
pub(crate) const ARM_AUDIENCE: &str = "https://management.azure.com";

/// Which service a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Audience {
    /// Microsoft Graph.
    #[default]
    Graph,
    /// Azure Resource Manager.
    Arm,
}

impl Audience {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Audience::Graph => GRAPH_AUDIENCE,
            Audience::Arm => ARM_AUDIENCE,
        }
    }

    /// The audience a v2.0 `scope` asks for: ARM's resource URIs (either
    /// host, `.default` or `user_impersonation`) get ARM, anything else
    /// Graph, as before ARM was served.
    pub(crate) fn of_scope(scope: Option<&str>) -> Audience {
        let arm = scope.unwrap_or("").split_whitespace().any(|s| {
            let s = s.to_ascii_lowercase();
            s.starts_with("https://management.azure.com/")
                || s.starts_with("https://management.core.windows.net/")
        });
        if arm { Audience::Arm } else { Audience::Graph }
    }
}

/// The client id in delegated tokens of the emulator's user grant, which
/// names no client: pim signing in as a public client.
pub(crate) const USER_GRANT_CLIENT_ID: &str = "0d2b1f4c-3c5e-5e0b-9a8e-70696d656d75";

/// How tokens look to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenFormat {
    /// JWTs with Entra's v1.0 claims (what Entra issues for Graph).
    #[default]
    Jwt,
    /// Random strings that say nothing to the client, which must ask Graph
    /// who it is.
    Opaque,
}

/// How the client proved who it is: `appidacr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// A public client (the user grant): `0`.
    Public,
    /// A client secret: `1`.
    Secret,
    /// A client assertion (certificate or federated token): `2`. Entra
    /// documents `2` for certificates; that federated assertions get `2`
    /// too is UNVERIFIED.
    Assertion,
}

impl ClientAuth {
    fn as_str(self) -> &'static str {
        match self {
            ClientAuth::Public => "0",
            ClientAuth::Secret => "1",
            ClientAuth::Assertion => "2",
        }
    }
}

/// Why a bearer token is refused. Graph answers all with 401
/// `InvalidAuthenticationToken`; the messages are those Graph is seen to
/// give (UNVERIFIED: Graph documents none of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    Malformed,
    Signature,
    Audience,
    Expired,
    NotYetValid,
}

impl Invalid {
    pub(crate) fn to_graph(self) -> ApiError {
        let message = match self {
            Invalid::Malformed => "CompactToken parsing failed with error code: 80049217",
            Invalid::Signature => "Access token validation failure.",
            Invalid::Audience => "Access token validation failure. Invalid audience.",
            Invalid::Expired => "Lifetime validation failed, the token is expired.",
            Invalid::NotYetValid => "Lifetime validation failed, the token is not yet valid.",
        };
        ApiError::new(401, "InvalidAuthenticationToken", message)
    }
}

/// Seconds since the epoch. Tokens age in real time, not on the emulator's
/// clock: tests move that clock days ahead to age schedules, and a sign-in
/// that died with every such move would only get in their way.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Issues and checks the tokens of one emulator.
pub(crate) struct Tokens {
    key: [u8; 32],
    format: TokenFormat,
    lifetime: u64,
    permissions: Permissions,
    /// Opaque tokens only: who each one belongs to, its `exp` and audience.
    opaque: HashMap<String, (Caller, u64, Audience)>,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length.
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

impl Tokens {
    pub(crate) fn new(
        format: TokenFormat,
        lifetime: u64,
        permissions: Permissions,
    ) -> Result<Self, EmulatorError> {
        let mut key = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut key)
            .map_err(|e| EmulatorError::Random(e.to_string()))?;
        Ok(Tokens {
            key,
            format,
            lifetime,
            permissions,
            opaque: HashMap::new(),
        })
    }

    /// Seconds a token is valid for: what `expires_in` says.
    pub(crate) fn lifetime(&self) -> u64 {
        self.lifetime
    }

    pub(crate) fn issue(
        &mut self,
        caller: &Caller,
        auth: ClientAuth,
        tenant_id: &str,
        now: u64,
        audience: Audience,
    ) -> String {
        let exp = now.saturating_add(self.lifetime);
        // ARM's only delegated scope is `user_impersonation`; app-only ARM
        // tokens carry no roles (access is Azure RBAC's, not the token's).
        let granted = match (audience, &caller.app_id) {
            (Audience::Arm, Some(_)) => Vec::new(),
            (Audience::Arm, None) => vec!["user_impersonation".to_string()],
            (Audience::Graph, Some(_)) => self.permissions.application.clone(),
            (Audience::Graph, None) => self.permissions.delegated.clone(),
        };
        let caller = &Caller {
            permissions: granted,
            ..caller.clone()
        };
        match self.format {
            TokenFormat::Jwt => {
                let mut claims = claims(caller, auth, tenant_id, now, exp);
                claims["aud"] = json!(audience.as_str());
                self.sign(&claims)
            }
            TokenFormat::Opaque => {
                let token = format!(
                    "pimemu.{}{}",
                    Uuid::new_v4().simple(),
                    Uuid::new_v4().simple()
                );
                self.opaque.retain(|_, (_, e, _)| *e > now);
                self.opaque
                    .insert(token.clone(), (caller.clone(), exp, audience));
                token
            }
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = B64.encode(claims.to_string());
        let signed = format!("{header}.{payload}");
        let mut m = mac(&self.key);
        m.update(signed.as_bytes());
        let sig = B64.encode(m.finalize().into_bytes());
        format!("{signed}.{sig}")
    }

    /// The caller a bearer token stands for, if it is one of ours, alive
    /// and for `audience`.
    pub(crate) fn check(
        &self,
        token: &str,
        now: u64,
        audience: Audience,
    ) -> Result<Caller, Invalid> {
        if let Some((caller, exp, aud)) = self.opaque.get(token) {
            return if *aud != audience {
                Err(Invalid::Audience)
            } else if now < *exp {
                Ok(caller.clone())
            } else {
                Err(Invalid::Expired)
            };
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Invalid::Malformed);
        };
        let sig = B64.decode(sig).map_err(|_| Invalid::Malformed)?;
        let mut m = mac(&self.key);
        m.update(header.as_bytes());
        m.update(b".");
        m.update(payload.as_bytes());
        m.verify_slice(&sig).map_err(|_| Invalid::Signature)?;
        let claims: Value = B64
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(Invalid::Malformed)?;
        if claims["aud"].as_str() != Some(audience.as_str()) {
            return Err(Invalid::Audience);
        }
        let time = |k: &str| claims[k].as_u64().ok_or(Invalid::Malformed);
        if now >= time("exp")? {
            return Err(Invalid::Expired);
        }
        if now < time("nbf")? {
            return Err(Invalid::NotYetValid);
        }
        caller_from(&claims).ok_or(Invalid::Malformed)
    }
}

/// The payload of a v1.0 access token for Graph. App-only tokens carry no
/// `amr`, as Entra's client-credential tokens are seen to (UNVERIFIED: the
/// claims reference lists `amr` for v1.0 tokens without saying which);
/// `tokens_have_mfa` gives them `["pwd","mfa"]`, which Entra never does.
fn claims(caller: &Caller, auth: ClientAuth, tenant_id: &str, iat: u64, exp: u64) -> Value {
    let iss = format!("https://sts.windows.net/{tenant_id}/");
    let uti = B64.encode(Uuid::new_v4().as_bytes());
    let mut c = json!({
        "aud": GRAPH_AUDIENCE,
        "iss": iss,
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "tid": tenant_id,
        "oid": caller.object_id,
        "uti": uti,
        "ver": "1.0",
        "appidacr": auth.as_str(),
    });
    let amr = if caller.mfa {
        json!(["pwd", "mfa"])
    } else {
        json!(["pwd"])
    };
    match &caller.app_id {
        Some(app_id) => {
            c["idtyp"] = json!("app");
            c["appid"] = json!(app_id);
            // An application is its own subject.
            c["sub"] = json!(caller.object_id);
            c["idp"] = json!(iss);
            c["roles"] = json!(caller.permissions);
            if let Some(n) = &caller.display_name {
                c["app_displayname"] = json!(n);
            }
            if caller.mfa {
                c["amr"] = amr;
            }
        }
        None => {
            c["idtyp"] = json!("user");
            c["appid"] = json!(USER_GRANT_CLIENT_ID);
            // A user's subject is pairwise: one value per user and client.
            let pair = Sha256::digest(format!("{USER_GRANT_CLIENT_ID}:{}", caller.object_id));
            c["sub"] = json!(B64.encode(pair));
            c["acr"] = json!("1");
            c["amr"] = amr;
            c["scp"] = json!(caller.permissions.join(" "));
            if let Some(n) = &caller.display_name {
                c["name"] = json!(n);
            }
            if let Some(upn) = &caller.upn {
                c["upn"] = json!(upn);
                c["unique_name"] = json!(upn);
            }
        }
    }
    c
}

fn caller_from(claims: &Value) -> Option<Caller> {
    let text = |k: &str| claims[k].as_str().map(str::to_string);
    let app_only = claims["idtyp"].as_str() == Some("app");
    let mfa = claims["amr"]
        .as_array()
        .is_some_and(|a| a.iter().any(|m| m.as_str() == Some("mfa")));
    Some(Caller {
        object_id: text("oid")?.to_ascii_lowercase(),
        app_id: if app_only { Some(text("appid")?) } else { None },
        mfa,
        display_name: if app_only {
            text("app_displayname")
        } else {
            text("name")
        },
        upn: text("upn"),
        permissions: if app_only {
            claims["roles"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        } else {
            claims["scp"]
                .as_str()
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Caller {
        Caller {
            object_id: "a0000000-0000-4000-8000-000000000000".into(),
            app_id: None,
            mfa: true,
            display_name: Some("Alice".into()),
            upn: Some("alice@contoso.com".into()),
            permissions: Permissions::default().delegated,
        }
    }

    #[test]
    fn checks_what_it_issued_and_refuses_the_rest() {
        let mut t = Tokens::new(TokenFormat::Jwt, 3599, Permissions::default()).unwrap();
        let now = 1_800_000_000;
        let jwt = t.issue(&user(), ClientAuth::Public, "tid", now, Audience::Graph);
        assert_eq!(t.check(&jwt, now, Audience::Graph), Ok(user()));
        assert_eq!(t.check(&jwt, now + 3598, Audience::Graph), Ok(user()));
        assert_eq!(
            t.check(&jwt, now + 3599, Audience::Graph),
            Err(Invalid::Expired)
        );
        assert_eq!(
            t.check(&jwt, now - 1, Audience::Graph),
            Err(Invalid::NotYetValid)
        );
        // Another emulator's key, or a changed payload.
        let other = Tokens::new(TokenFormat::Jwt, 3599, Permissions::default()).unwrap();
        assert_eq!(
            other.check(&jwt, now, Audience::Graph),
            Err(Invalid::Signature)
        );
        let mut parts: Vec<&str> = jwt.split('.').collect();
        let forged = B64.encode(br#"{"oid":"x","aud":"https://graph.microsoft.com"}"#);
        parts[1] = &forged;
        assert_eq!(
            t.check(&parts.join("."), now, Audience::Graph),
            Err(Invalid::Signature)
        );
        assert_eq!(
            t.check("forged", now, Audience::Graph),
            Err(Invalid::Malformed)
        );

        let mut o = Tokens::new(TokenFormat::Opaque, 60, Permissions::default()).unwrap();
        let opaque = o.issue(&user(), ClientAuth::Public, "tid", now, Audience::Graph);
        assert!(opaque.starts_with("pimemu.") && !opaque.contains("alice"));
        assert_eq!(o.check(&opaque, now + 59, Audience::Graph), Ok(user()));
        assert_eq!(
            o.check(&opaque, now + 60, Audience::Graph),
            Err(Invalid::Expired)
        );
        // Issuing forgets the expired ones.
        o.issue(
            &user(),
            ClientAuth::Public,
            "tid",
            now + 61,
            Audience::Graph,
        );
        assert_eq!(
            o.check(&opaque, now + 61, Audience::Graph),
            Err(Invalid::Malformed)
        );
    }

    #[test]
    fn a_token_is_good_only_for_the_service_it_was_asked_for() {
        assert_eq!(
            Audience::of_scope(Some("https://management.azure.com/.default")),
            Audience::Arm
        );
        assert_eq!(
            Audience::of_scope(Some(
                "openid https://management.core.windows.net//user_impersonation"
            )),
            Audience::Arm
        );
        assert_eq!(
            Audience::of_scope(Some("https://graph.microsoft.com/.default")),
            Audience::Graph
        );
        assert_eq!(Audience::of_scope(None), Audience::Graph);
        let now = 1_800_000_000;
        for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
            let mut t = Tokens::new(format, 3599, Permissions::default()).unwrap();
            let arm = t.issue(&user(), ClientAuth::Public, "tid", now, Audience::Arm);
            let graph = t.issue(&user(), ClientAuth::Public, "tid", now, Audience::Graph);
            let arm_user = Caller {
                permissions: vec!["user_impersonation".into()],
                ..user()
            };
            assert_eq!(t.check(&arm, now, Audience::Arm), Ok(arm_user));
            assert_eq!(t.check(&graph, now, Audience::Graph), Ok(user()));
            assert_eq!(t.check(&arm, now, Audience::Graph), Err(Invalid::Audience));
            assert_eq!(t.check(&graph, now, Audience::Arm), Err(Invalid::Audience));
        }
    }
}
