//! What every request passes before an action runs: its `Host` must name this daemon (so a web
//! page cannot reach a loopback daemon by DNS rebinding), a browser's cross-site request is
//! refused (a form post needs no preflight), and, when authentication is on, its SigV4
//! signature must verify and the key's policy must allow the action on its resource.

use std::net::SocketAddr;

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::Value;

use crate::daemon::auth::sigv4::Request;
use crate::daemon::auth::{Auth, Refusal};
use crate::engine::{ACCOUNT, REGION};

/// Which `Host` values are this daemon's.
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    /// Any host (listening on every address with no names configured).
    any: bool,
    names: Vec<String>,
}

impl Hosts {
    /// The listen address's own names, plus the configured ones.
    pub fn new(listen: SocketAddr, configured: &[String]) -> Hosts {
        let ip = listen.ip();
        let mut names: Vec<String> = configured.iter().map(|n| n.to_ascii_lowercase()).collect();
        if ip.is_unspecified() && configured.is_empty() {
            return Hosts { any: true, names };
        }
        if ip.is_loopback() || ip.is_unspecified() {
            names.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
        }
        names.push(match ip {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        });
        Hosts { any: false, names }
    }

    /// Any host: the router as tests build it, without a socket.
    pub fn any() -> Hosts {
        Hosts {
            any: true,
            names: Vec::new(),
        }
    }

    fn allows(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        // The name without its port (`[::1]:8083` keeps its brackets).
        let name = match host.rsplit_once(':') {
            Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() && !n.ends_with(':') => n,
            _ => host,
        };
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The checks, as configured for this daemon.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    pub auth: Auth,
    pub hosts: Hosts,
}

/// A refusal in AWS's shape: HTTP status, `__type` and message.
pub struct Denied {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

fn denied(status: StatusCode, r: Refusal) -> Denied {
    Denied {
        status,
        code: r.code,
        message: r.message,
    }
}

impl Gate {
    /// No authentication and any host: for the router built without a daemon around it.
    pub fn open() -> Gate {
        Gate {
            auth: Auth::default(),
            hosts: Hosts::any(),
        }
    }

    /// Host and cross-site checks, for every request that changes something.
    pub fn same_site(&self, method: &Method, headers: &HeaderMap) -> Result<(), Denied> {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let host = get("host").unwrap_or_default();
        if !host.is_empty() && !self.hosts.allows(host) {
            return Err(Denied {
                status: StatusCode::MISDIRECTED_REQUEST,
                code: "InvalidHostException",
                message: format!("Host '{host}' is not a name of this daemon (configure it in `hosts`)"),
            });
        }
        if *method != Method::POST {
            return Ok(());
        }
        // Browsers say where a request comes from (`Sec-Fetch-Site`, and `Origin` on every
        // POST, a plain HTML form's included); other clients (SDKs, curl) send neither.
        let cross_site = matches!(get("sec-fetch-site"), Some(s) if s != "same-origin" && s != "none");
        let foreign_origin = get("origin").is_some_and(|o| {
            let o = o.split("://").nth(1).unwrap_or(o);
            o == "null" || (!host.is_empty() && !o.eq_ignore_ascii_case(host))
        });
        if cross_site || foreign_origin {
            return Err(Denied {
                status: StatusCode::FORBIDDEN,
                code: "AccessDeniedException",
                message: "Cross-site requests are refused (a browser page may not call this daemon)".into(),
            });
        }
        Ok(())
    }

    /// Verifies the request's SigV4 signature when authentication is on: the access key it was
    /// made with (`None` when authentication is off).
    pub fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Option<String>, Denied> {
        self.authenticate_as("states", method, uri, headers, body)
    }

    /// As `authenticate`, for a request signed for `service` (`scheduler`).
    pub fn authenticate_as(
        &self,
        service: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Option<String>, Denied> {
        if !self.auth.required {
            return Ok(None);
        }
        let pairs: Vec<(String, String)> = headers
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_string(), v.to_string())))
            .collect();
        let req = Request {
            method: method.as_str(),
            path: uri.path(),
            query: uri.query().unwrap_or(""),
            headers: &pairs,
            body,
        };
        self.auth
            .authenticate_for(service, &req, chrono::Utc::now())
            .map(Some)
            .map_err(|r| denied(StatusCode::BAD_REQUEST, r))
    }

    /// Whether the key's policy allows `action` (IAM's name, `states:StartExecution`) on
    /// `resource`; always, when authentication is off.
    pub fn permit(&self, key: Option<&str>, action: &str, resource: &str) -> Result<(), Denied> {
        match key {
            None => Ok(()),
            Some(k) => self
                .auth
                .authorize(k, action, resource)
                .map_err(|r| denied(StatusCode::BAD_REQUEST, r)),
        }
    }
}

/// The resource an API action acts on, for its policy: the ARN the request names (a new
/// state machine's own ARN for CreateStateMachine), else `*`.
pub fn resource_of(action: &str, request: &Value) -> String {
    if action == "CreateStateMachine" || action == "CreateActivity" {
        let kind = if action == "CreateActivity" {
            "activity"
        } else {
            "stateMachine"
        };
        if let Some(name) = request["name"].as_str() {
            return format!("arn:aws:states:{REGION}:{ACCOUNT}:{kind}:{name}");
        }
    }
    for field in [
        "stateMachineArn",
        "executionArn",
        "stateMachineVersionArn",
        "stateMachineAliasArn",
        "activityArn",
        "mapRunArn",
        "resourceArn",
    ] {
        if let Some(arn) = request[field].as_str() {
            return arn.to_string();
        }
    }
    "*".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_a_loopback_daemon() {
        let h = Hosts::new("127.0.0.1:8083".parse().unwrap(), &["steps.internal".into()]);
        for ok in [
            "127.0.0.1:8083",
            "localhost:8083",
            "localhost",
            "[::1]:8083",
            "STEPS.internal",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in ["evil.example:8083", "127.0.0.1.evil.example", "attacker"] {
            assert!(!h.allows(bad), "{bad}");
        }
        assert!(Hosts::new("0.0.0.0:8083".parse().unwrap(), &[]).allows("anything"));
    }
}
