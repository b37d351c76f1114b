//! `wasmstep reload`: the client of a running daemon's `POST /-/reload`.

use super::USAGE;
use super::args::ReloadArgs;

/// `wasmstep reload`: asks a running daemon to rescan (POST /-/reload) and prints its report.
/// Exit 0 when everything loaded, 1 when a file was rejected, 2 when the daemon cannot be asked.
pub fn reload(args: ReloadArgs) -> u8 {
    let url = format!("{}/-/reload", args.endpoint.trim_end_matches('/'));
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(600)))
        .build()
        .new_agent();
    let mut resp = match agent.post(&url).send_empty() {
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
