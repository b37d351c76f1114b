//! The HTTP API: AWS Step Functions' JSON 1.0 protocol (`POST /`, `X-Amz-Target:
//! AWSStepFunctions.<Action>`), EventBridge Scheduler's REST API (`scheduler.rs`), status
//! events as they happen (`GET /events`), `/metrics`, `/healthz` and `/readyz`. `router()` is tested without
//! a socket.

mod actions;
pub mod admin;
mod aliases;
mod events;
pub mod gate;
mod map_runs;
mod scheduler;
mod shapes;
mod waits;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use self::gate::{Denied, Gate};
use crate::daemon::error::ServiceError;
use crate::daemon::service::Service;

/// Largest request body accepted (AWS: 1 MB definitions, 256 KiB inputs).
const MAX_BODY: usize = 2 << 20;

/// Time a client has to send a request's body once its headers are in.
const BODY_READ: Duration = Duration::from_secs(30);

/// The API with no authentication and any `Host`: what tests drive without a socket.
pub fn router(svc: Arc<Service>) -> Router {
    router_with(svc, Arc::new(Gate::open()))
}

/// The API behind the daemon's gate (hosts, cross-site requests, SigV4 and policies).
pub fn router_with(svc: Arc<Service>, gate: Arc<Gate>) -> Router {
    Router::new()
        .route("/", post(dispatch).get(index))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/events", get(events::events))
        .merge(scheduler::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(gate))
        .with_state(svc)
}

/// A gate's refusal as an AWS error.
pub(crate) fn denied_response(d: Denied) -> Response {
    json_response(d.status, json!({"__type": d.code, "message": d.message}))
}

/// `GET /` (a browser, curl): what is served here and how to reach it.
async fn index() -> Response {
    json_response(
        StatusCode::OK,
        json!({
            "service": "wasmstep",
            "version": env!("CARGO_PKG_VERSION"),
            "api": "POST / with X-Amz-Target: AWSStepFunctions.<Action> (AWS JSON 1.0): any AWS SDK's Step Functions client, or aws stepfunctions ... --endpoint-url this address",
            "scheduler": "EventBridge Scheduler's REST API: /schedules, /schedule-groups (aws scheduler ... --endpoint-url this address)",
            "metrics": "/metrics",
            "health": "/healthz",
            "ready": "/readyz",
            "events": "/events (execution status changes, server-sent events)",
        }),
    )
}

/// Every answer is AWS-shaped JSON, 404 and 405 included.
async fn not_found(uri: axum::http::Uri) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        json!({"__type": "UnknownOperationException", "message": format!("No resource at {}: the API is POST /", uri.path())}),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({"__type": "MethodNotAllowedException", "message": format!("{method} is not allowed on {}", uri.path())}),
    )
}

/// Reads a request body within the size and time limits, answering AWS-shaped errors.
pub(crate) async fn read_body(body: Body) -> Result<Bytes, Response> {
    match tokio::time::timeout(BODY_READ, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(_)) => Err(json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"__type": "RequestEntityTooLargeException", "message": format!("The request body is larger than {MAX_BODY} bytes")}),
        )),
        Err(_) => Err(json_response(
            StatusCode::REQUEST_TIMEOUT,
            json!({"__type": "RequestTimeoutException", "message": format!("The request body did not arrive within {BODY_READ:?}")}),
        )),
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    r
}

/// AWS's error shape: HTTP 400 with `{"__type", "message"}`.
fn error_response(e: ServiceError) -> Response {
    let status = match e.kind {
        "ServiceUnavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    json_response(status, json!({"__type": e.kind, "message": e.message}))
}

async fn dispatch(
    State(svc): State<Arc<Service>>,
    Extension(gate): Extension<Arc<Gate>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(d) = gate.same_site(&method, &headers) {
        return denied_response(d);
    }
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let key = match gate.authenticate(&method, &uri, &headers, &body) {
        Ok(k) => k,
        Err(d) => return denied_response(d),
    };
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(action) = target.strip_prefix("AWSStepFunctions.") else {
        return error_response(crate::daemon::error::error(
            "UnknownOperationException",
            format!("X-Amz-Target must be AWSStepFunctions.<Action>, not '{target}'"),
        ));
    };
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return error_response(crate::daemon::error::error(
                    "SerializationException",
                    "The request body must be a JSON object",
                ));
            }
            Err(e) => {
                return error_response(crate::daemon::error::error(
                    "SerializationException",
                    format!("The request body is not valid JSON: {e}"),
                ));
            }
        }
    };
    // A store that cannot write makes a change wait until it can; refuse at once instead, so
    // clients retry (HTTP 503) rather than hang. Reads and Express runs need no writes.
    let reads_only = ["Describe", "List", "Get", "Validate", "StartSyncExecution"]
        .iter()
        .any(|p| action.starts_with(p));
    if !reads_only && let Some(why) = svc.cannot_write() {
        return error_response(crate::daemon::error::error(
            "ServiceUnavailable",
            format!("the store cannot write now ({why}); try again later"),
        ));
    }
    if let Err(d) = gate.permit(
        key.as_deref(),
        &format!("states:{action}"),
        &gate::resource_of(action, &request),
    ) {
        return denied_response(d);
    }
    if let Err(e) = shapes::check(action, &request) {
        return error_response(e);
    }
    match actions::handle(&svc, action, &request).await {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => error_response(e),
    }
}

async fn metrics(
    State(svc): State<Arc<Service>>,
    Extension(gate): Extension<Arc<Gate>>,
    headers: HeaderMap,
) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if !gate.auth.metrics_allowed(authorization) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"__type": "MissingAuthenticationTokenException", "message": "/metrics needs Authorization: Bearer <metrics_token>"}),
        );
    }
    let mut r = svc.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// Liveness: the daemon answers and its store can be read and written.
async fn healthz(State(svc): State<Arc<Service>>) -> Response {
    if !svc.healthy().await {
        return (StatusCode::SERVICE_UNAVAILABLE, "the store is not usable\n").into_response();
    }
    match svc.cannot_write() {
        None => (StatusCode::OK, "ok\n").into_response(),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the store cannot write: {why}\n"),
        )
            .into_response(),
    }
}

/// Readiness: healthy, and taking new work (not stopping).
async fn readyz(State(svc): State<Arc<Service>>) -> Response {
    if svc.draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "stopping\n").into_response();
    }
    if !svc.healthy().await {
        return (StatusCode::SERVICE_UNAVAILABLE, "the store is not usable\n").into_response();
    }
    match svc.cannot_write() {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the store cannot write: {why}\n"),
        )
            .into_response(),
    }
}
