//! The daemon's own endpoints beside the Step Functions API: `POST /-/reload` rescans the plugins
//! and definitions directories now (what `wasmstep reload` calls) and answers with the report.
//! Behind the same gate as the API (its IAM action is `wasmstep:Reload`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::gate::Gate;
use super::{denied_response, read_body};
use crate::daemon::reload::Reloader;

pub fn router(reloader: Arc<Reloader>, gate: Arc<Gate>) -> Router {
    Router::new()
        .route("/-/reload", post(reload))
        .layer(Extension(gate))
        .with_state(reloader)
}

async fn reload(
    State(reloader): State<Arc<Reloader>>,
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
    let checked = gate
        .authenticate(&method, &uri, &headers, &body)
        .and_then(|key| gate.permit(key.as_deref(), "wasmstep:Reload", "*"));
    if let Err(d) = checked {
        return denied_response(d);
    }
    axum::Json(reloader.rescan().await).into_response()
}
