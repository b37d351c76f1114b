//! `wasmstep reload`: the client of a running daemon's `POST /-/reload`. Signed (SigV4) with
//! the standard AWS credentials from the environment when they are set, as a daemon that
//! requires authentication asks.

use wasmstep::daemon::auth::sigv4::Signer;

use super::USAGE;
use super::args::ReloadArgs;

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and the region, when set.
fn credentials() -> Option<(String, String, String)> {
    let key = std::env::var("AWS_ACCESS_KEY_ID").ok().filter(|k| !k.is_empty())?;
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").ok().filter(|s| !s.is_empty())?;
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|_| "us-east-1".into());
    Some((key, secret, region))
}

/// `wasmstep reload`: asks a running daemon to rescan (POST /-/reload) and prints its report.
/// Exit 0 when everything loaded, 1 when a file was rejected, 2 when the daemon cannot be asked.
pub fn reload(args: ReloadArgs) -> u8 {
    let url = format!("{}/-/reload", args.endpoint.trim_end_matches('/'));
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(600)))
        .build()
        .new_agent();
    let mut req = agent.post(&url);
    if let Some((key, secret, region)) = credentials() {
        let host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_default()
            .to_string();
        let signer = Signer {
            access_key_id: &key,
            secret: &secret,
            region: &region,
            service: "states",
        };
        for (name, value) in signer.sign("POST", &host, "/-/reload", b"", chrono::Utc::now()) {
            if name != "host" {
                req = req.header(name, value);
            }
        }
    }
    let mut resp = match req.send_empty() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot reach the daemon at {url}: {e}");
            return USAGE;
        }
    };
    let status = resp.status();
    let body: serde_json::Value = match resp.body_mut().read_json() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {url} answered {status} without a JSON report: {e}");
            return USAGE;
        }
    };
    println!("{}", serde_json::to_string_pretty(&body).unwrap_or_default());
    if status != 200 {
        eprintln!("error: {url} answered {status}");
        return USAGE;
    }
    match body["rejected"].as_array() {
        Some(r) if r.is_empty() => 0,
        _ => 1,
    }
}
