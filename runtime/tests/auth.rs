//! Authentication and authorization against the real daemon with `[auth]` required: boto3 and
//! aws-cli with right and wrong credentials, an IAM policy that allows exactly one thing,
//! clock skew, `wasmstep reload` signing its request, `/metrics` behind a bearer token, and
//! the `Host` and cross-site checks that keep browsers out.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Daemon, python, tempdir};
use serde_json::{Value, json};

const ADMIN_KEY: &str = "AKIDADMIN";
const ADMIN_SECRET: &str = "admin-secret-for-tests";
const OPS_KEY: &str = "AKIDOPS";
const OPS_SECRET: &str = "ops-secret-for-tests";

/// A daemon requiring authentication: the admin key's secret from the environment, the ops
/// key's from a file, with a policy allowing only StartExecution on `orders`.
fn daemon(name: &str) -> (Daemon, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir(name);
    std::fs::write(dir.join("ops.secret"), format!("{OPS_SECRET}\n")).expect("secret");
    std::fs::set_permissions(dir.join("ops.secret"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::write(
        dir.join("ops-policy.json"),
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "states:StartExecution",
            "Resource": "arn:aws:states:us-east-1:123456789012:stateMachine:orders"}]})
        .to_string(),
    )
    .expect("policy");
    std::fs::write(
        dir.join("wasmstep.toml"),
        format!(
            "[auth]\nrequired = true\nmetrics_token = \"env:WASMSTEP_METRICS_TOKEN\"\n\n[[auth.keys]]\naccess_key_id = \"{ADMIN_KEY}\"\nsecret = \"env:WASMSTEP_ADMIN_SECRET\"\n\n[[auth.keys]]\naccess_key_id = \"{OPS_KEY}\"\nsecret = \"file:ops.secret\"\npolicy = \"ops-policy.json\"\n"
        ),
    )
    .expect("config");
    let config = dir.join("wasmstep.toml");
    let d = Daemon::start_with_env(
        &dir.join("data"),
        &["--config".as_ref(), config.as_os_str()],
        &[
            ("WASMSTEP_ADMIN_SECRET", ADMIN_SECRET),
            ("WASMSTEP_METRICS_TOKEN", "metrics-token"),
        ],
    );
    (d, dir)
}

fn aws(py: &Path, d: &Daemon, dir: &Path, key: &str, secret: &str, args: &[&str]) -> std::process::Output {
    Command::new(py)
        .args(["-m", "awscli", "stepfunctions"])
        .args(args)
        .args(["--endpoint-url", &d.url, "--region", "us-east-1", "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("run aws-cli")
}

#[test]
fn boto3_and_aws_cli_with_right_and_wrong_credentials() {
    let py = python();
    let (d, dir) = daemon("auth-clients");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/boto3_auth.py");
    let out = Command::new(&py)
        .arg(&script)
        .args([&d.url, ADMIN_KEY, ADMIN_SECRET, OPS_KEY, OPS_SECRET])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "boto3 auth client failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let ok = aws(&py, &d, &dir, ADMIN_KEY, ADMIN_SECRET, &["list-state-machines"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let listed: Value = serde_json::from_slice(&ok.stdout).expect("JSON");
    assert_eq!(listed["stateMachines"].as_array().map(Vec::len), Some(2), "{listed}");
    for (key, secret, code) in [
        (ADMIN_KEY, "wrong", "InvalidSignatureException"),
        ("AKIDNOBODY", ADMIN_SECRET, "UnrecognizedClientException"),
        (OPS_KEY, OPS_SECRET, "AccessDeniedException"),
    ] {
        let out = aws(&py, &d, &dir, key, secret, &["list-state-machines"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(code), "{key}: {stderr}");
    }
}

#[test]
fn skewed_clocks_reload_metrics_hosts_and_cross_site_posts() {
    use wasmstep::daemon::auth::sigv4::Signer;
    let (d, _dir) = daemon("auth-edges");
    let host = d.url.trim_start_matches("http://").to_string();
    let body = b"{}";
    let signed_call = |at: chrono::DateTime<chrono::Utc>| -> (u16, Value) {
        let signer = Signer {
            access_key_id: ADMIN_KEY,
            secret: ADMIN_SECRET,
            region: "us-east-1",
            service: "states",
        };
        let mut req = ureq::post(&d.url)
            .header("x-amz-target", "AWSStepFunctions.ListStateMachines")
            .header("content-type", "application/x-amz-json-1.0");
        for (n, v) in signer.sign("POST", &host, "/", body, at) {
            if n != "host" {
                req = req.header(n, v);
            }
        }
        let mut resp = req
            .config()
            .http_status_as_error(false)
            .build()
            .send(&body[..])
            .expect("send");
        (
            resp.status().as_u16(),
            resp.body_mut().read_json().unwrap_or(Value::Null),
        )
    };
    let now = chrono::Utc::now();
    assert_eq!(signed_call(now).0, 200);
    let (status, v) = signed_call(now - chrono::Duration::minutes(20));
    assert_eq!(status, 400);
    assert_eq!(v["__type"], "InvalidSignatureException");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Signature expired")),
        "{v}"
    );

    // `wasmstep reload` signs with the environment's credentials.
    let reload = |key: Option<(&str, &str)>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wasmstep"));
        c.args(["reload", "--endpoint", &d.url])
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY");
        if let Some((k, s)) = key {
            c.env("AWS_ACCESS_KEY_ID", k).env("AWS_SECRET_ACCESS_KEY", s);
        }
        c.output().expect("wasmstep reload")
    };
    let out = reload(Some((ADMIN_KEY, ADMIN_SECRET)));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = reload(None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("MissingAuthenticationTokenException"));
    let out = reload(Some((OPS_KEY, OPS_SECRET)));
    assert!(String::from_utf8_lossy(&out.stdout).contains("AccessDeniedException"));

    // /metrics wants its bearer token.
    let metrics = |token: Option<&str>| {
        let mut req = ureq::get(&format!("{}/metrics", d.url));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.config()
            .http_status_as_error(false)
            .build()
            .call()
            .expect("GET")
            .status()
            .as_u16()
    };
    assert_eq!(metrics(None), 401);
    assert_eq!(metrics(Some("wrong")), 401);
    assert_eq!(metrics(Some("metrics-token")), 200);

    // A browser page reaching the loopback daemon by another name (DNS rebinding), or posting a
    // form from another site, is refused before authentication is even looked at.
    let raw = |headers: &[(&str, &str)]| {
        let mut req = ureq::post(&d.url).header("x-amz-target", "AWSStepFunctions.ListStateMachines");
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let mut resp = req
            .config()
            .http_status_as_error(false)
            .build()
            .send("{}")
            .expect("send");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json::<Value>().unwrap_or(Value::Null))
    };
    let (status, v) = raw(&[
        ("host", "evil.example:8083"),
        ("content-type", "application/x-amz-json-1.0"),
    ]);
    assert_eq!(
        (status, v["__type"].clone()),
        (421, json!("InvalidHostException")),
        "{v}"
    );
    let (status, v) = raw(&[
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", "null"),
    ]);
    assert_eq!(status, 403, "{v}");
    let (status, v) = raw(&[
        ("content-type", "application/x-amz-json-1.0"),
        ("sec-fetch-site", "cross-site"),
    ]);
    assert_eq!(status, 403, "{v}");
    let (status, v) = raw(&[
        ("content-type", "application/x-amz-json-1.0"),
        ("origin", "https://evil.example"),
    ]);
    assert_eq!(status, 403, "{v}");
}

#[test]
fn operator_errors_in_auth_config_stop_the_daemon() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir("auth-config");
    let serve = |config: &str| {
        std::fs::write(dir.join("w.toml"), config).expect("config");
        std::fs::set_permissions(dir.join("w.toml"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
        Command::new(env!("CARGO_BIN_EXE_wasmstep"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.join("data"))
            .arg("--config")
            .arg(dir.join("w.toml"))
            .env_remove("NOPE_SECRET")
            .output()
            .expect("serve")
    };
    for (config, says) in [
        ("[auth]\nrequired = true\n", "no keys"),
        (
            "[[auth.keys]]\naccess_key_id = \"A\"\nsecret = \"env:NOPE_SECRET\"\n",
            "NOPE_SECRET",
        ),
        (
            "[[auth.keys]]\naccess_key_id = \"A\"\nsecret = \"plain\"\n",
            "readable by every user",
        ),
        (
            "[[auth.keys]]\naccess_key_id = \"A\"\nsecret = \"env:HOME\"\npolicy = \"missing.json\"\n",
            "missing.json",
        ),
    ] {
        let out = serve(config);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{config}: {stderr}");
        assert!(stderr.contains(says), "{config}: {stderr}");
    }
}

/// HTTPS when a certificate is configured: boto3 verifies the daemon's certificate and signs
/// its requests over TLS; plain HTTP on the same port gets nowhere.
#[test]
fn https_with_a_configured_certificate() {
    let py = python();
    let (d0, dir) = daemon("auth-tls");
    drop(d0);
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (Debian's openssl package) makes the test certificate");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let config = dir.join("wasmstep.toml");
    let d = Daemon::start_with_env(
        &dir.join("data-tls"),
        &[
            "--config".as_ref(),
            config.as_os_str(),
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            key.as_os_str(),
        ],
        &[("WASMSTEP_ADMIN_SECRET", ADMIN_SECRET), ("WASMSTEP_METRICS_TOKEN", "t")],
    );
    let https = d.url.replace("http://", "https://");
    let script = format!(
        r#"
import boto3, json, sys
from botocore.config import Config
sfn = boto3.client("stepfunctions", endpoint_url="{https}", region_name="us-east-1",
    aws_access_key_id="{ADMIN_KEY}", aws_secret_access_key="{ADMIN_SECRET}", verify="{cert}",
    config=Config(retries={{"max_attempts": 1}}))
arn = sfn.create_state_machine(name="secure", roleArn="arn:aws:iam::123456789012:role/r",
    definition=json.dumps({{"StartAt": "P", "States": {{"P": {{"Type": "Pass", "End": True}}}}}}))["stateMachineArn"]
print(json.dumps([m["name"] for m in sfn.list_state_machines()["stateMachines"]]))
"#,
        cert = cert.display()
    );
    let out = Command::new(&py).arg("-c").arg(&script).output().expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), r#"["secure"]"#);
    // Plain HTTP to the TLS port is not served.
    let plain = ureq::post(&d.url)
        .header("x-amz-target", "AWSStepFunctions.ListStateMachines")
        .send("{}");
    assert!(plain.is_err(), "plain HTTP was answered");
}
