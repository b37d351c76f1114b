//! Who may call the daemon: access keys with their secrets and policies (`[auth]` in the
//! config), AWS SigV4 verification of each request (`sigv4.rs`), IAM-style policies
//! (`policy.rs`). Off by default on a loopback address, required on any other; when required,
//! every API call, `/-/reload` and (with a token) `/metrics` are checked.

pub mod policy;
pub mod sigv4;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use self::policy::Policy;
use self::sigv4::{Authorization, Request};

/// The `[auth]` table of the config file, as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// Default: false on a loopback listen address, true otherwise.
    pub required: Option<bool>,
    #[serde(default)]
    pub keys: Vec<KeyFile>,
    /// `/metrics` asks for `Authorization: Bearer <token>` when set (`env:NAME`, `file:PATH`).
    pub metrics_token: Option<String>,
}

/// One `[[auth.keys]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub access_key_id: String,
    /// `env:NAME` or `file:PATH`; a literal only in a config file others cannot read.
    pub secret: String,
    /// An IAM policy document (JSON), relative to the config file; absent: allow all.
    pub policy: Option<PathBuf>,
}

/// A key the daemon accepts.
#[derive(Debug, Clone)]
pub struct Key {
    secret: String,
    policy: Option<Policy>,
}

/// The daemon's resolved access rules.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub required: bool,
    keys: HashMap<String, Key>,
    metrics_token: Option<String>,
}

/// Why a request is refused: AWS's error code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// How far a request's `x-amz-date` may be from the daemon's clock (AWS: 15 minutes).
const SKEW: chrono::Duration = chrono::Duration::minutes(15);

/// Reads a secret from where the config says it is.
fn secret(spec: &str, config: Option<&Path>) -> Result<String, String> {
    if let Some(name) = spec.strip_prefix("env:") {
        return std::env::var(name).map_err(|_| format!("the environment variable {name} is not set"));
    }
    if let Some(path) = spec.strip_prefix("file:") {
        let path = match config.and_then(Path::parent) {
            Some(base) if !Path::new(path).is_absolute() => base.join(path),
            _ => PathBuf::from(path),
        };
        refuse_world_readable(&path)?;
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        return Ok(text.trim_end_matches(['\r', '\n']).to_string());
    }
    // The secret itself: only where nobody else can read it.
    if let Some(c) = config {
        refuse_world_readable(c)?;
    }
    Ok(spec.to_string())
}

fn refuse_world_readable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o004 != 0 {
        return Err(format!(
            "{} holds a secret and is readable by every user (mode {:o}): chmod o-r it, or use env:NAME",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

impl Auth {
    /// Resolves the `[auth]` table: secrets read, policies parsed. `config` is the config
    /// file it came from (relative paths and the readability check use it).
    pub fn load(file: &AuthFile, config: Option<&Path>, listen: SocketAddr) -> Result<Auth, String> {
        let required = file.required.unwrap_or(!listen.ip().is_loopback());
        let mut keys = HashMap::new();
        for k in &file.keys {
            let what = format!("[[auth.keys]] {}", k.access_key_id);
            if k.access_key_id.is_empty() || keys.contains_key(&k.access_key_id) {
                return Err(format!("{what}: access_key_id must be set and unique"));
            }
            let secret = secret(&k.secret, config).map_err(|e| format!("{what}: secret: {e}"))?;
            if secret.is_empty() {
                return Err(format!("{what}: the secret is empty"));
            }
            let policy = match &k.policy {
                None => None,
                Some(p) => {
                    let p = match config.and_then(Path::parent) {
                        Some(base) if !p.is_absolute() => base.join(p),
                        _ => p.clone(),
                    };
                    let text =
                        std::fs::read_to_string(&p).map_err(|e| format!("{what}: cannot read {}: {e}", p.display()))?;
                    Some(Policy::parse(&text).map_err(|e| format!("{what}: {}: {e}", p.display()))?)
                }
            };
            keys.insert(k.access_key_id.clone(), Key { secret, policy });
        }
        if required && keys.is_empty() {
            return Err(format!(
                "authentication is required (listening on {listen}, not a loopback address) but [auth] has no keys: add [[auth.keys]], or set required = false"
            ));
        }
        let metrics_token = file
            .metrics_token
            .as_deref()
            .map(|t| secret(t, config).map_err(|e| format!("[auth] metrics_token: {e}")))
            .transpose()?;
        Ok(Auth {
            required,
            keys,
            metrics_token,
        })
    }

    /// Verifies a request's SigV4 signature at `now`; the access key it was made with.
    pub fn authenticate(&self, req: &Request<'_>, now: DateTime<Utc>) -> Result<String, Refusal> {
        self.authenticate_for("states", req, now)
    }

    /// As `authenticate`, for a request to `service` (the signing name its SDK uses:
    /// `states`, or `scheduler` for EventBridge Scheduler's API).
    pub fn authenticate_for(&self, service: &str, req: &Request<'_>, now: DateTime<Utc>) -> Result<String, Refusal> {
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let Some(authorization) = header("authorization") else {
            return Err(refuse(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        };
        let a = Authorization::parse(authorization).map_err(|e| refuse("IncompleteSignatureException", e))?;
        let Some(key) = self.keys.get(&a.access_key_id) else {
            return Err(refuse(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        };
        if a.service != service {
            return Err(refuse(
                "InvalidSignatureException",
                format!(
                    "Credential should be scoped to correct service: '{service}'. (got '{}')",
                    a.service
                ),
            ));
        }
        if !a.signed_headers.iter().any(|h| h == "host") {
            return Err(refuse("InvalidSignatureException", "'Host' must be a signed header"));
        }
        let Some(amz_date) = header("x-amz-date") else {
            return Err(refuse("IncompleteSignatureException", "X-Amz-Date is missing"));
        };
        let when = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
            .map_err(|_| {
                refuse(
                    "IncompleteSignatureException",
                    format!("X-Amz-Date '{amz_date}' is not YYYYMMDDTHHMMSSZ"),
                )
            })?
            .and_utc();
        let fmt = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
        if when < now - SKEW {
            return Err(refuse(
                "InvalidSignatureException",
                format!(
                    "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
                    fmt(now - SKEW),
                    fmt(now)
                ),
            ));
        }
        if when > now + SKEW {
            return Err(refuse(
                "InvalidSignatureException",
                format!(
                    "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
                    fmt(now + SKEW),
                    fmt(now)
                ),
            ));
        }
        if !amz_date.starts_with(&a.date) {
            return Err(refuse(
                "InvalidSignatureException",
                "The credential date does not match X-Amz-Date",
            ));
        }
        let expected = sigv4::signature(
            req,
            &a.signed_headers,
            &key.secret,
            amz_date,
            (&a.date, &a.region, &a.service),
        );
        if !sigv4::same_signature(&expected, &a.signature) {
            return Err(refuse(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ));
        }
        Ok(a.access_key_id)
    }

    /// Whether `key` may perform `action` (`states:StartExecution`) on `resource`.
    pub fn authorize(&self, key: &str, action: &str, resource: &str) -> Result<(), Refusal> {
        let allowed = match self.keys.get(key).map(|k| &k.policy) {
            Some(None) => true,
            Some(Some(p)) => p.allows(action, resource),
            None => false,
        };
        if allowed {
            return Ok(());
        }
        Err(refuse(
            "AccessDeniedException",
            format!(
                "User: arn:aws:iam::{}:user/{key} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action",
                crate::engine::ACCOUNT
            ),
        ))
    }

    /// `/metrics`: the bearer token, when one is configured.
    pub fn metrics_allowed(&self, authorization: Option<&str>) -> bool {
        match &self.metrics_token {
            None => true,
            Some(t) => authorization
                .and_then(|a| a.strip_prefix("Bearer "))
                .is_some_and(|given| sigv4::same_signature(given.trim(), t)),
        }
    }
}
