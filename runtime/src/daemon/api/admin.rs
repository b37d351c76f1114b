//! The daemon's own endpoints beside the Step Functions API: `POST /-/reload` rescans the plugins
//! and definitions directories now (what `wasmstep reload` calls) and answers with the report.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::daemon::reload::Reloader;

pub fn router(reloader: Arc<Reloader>) -> Router {
    Router::new().route("/-/reload", post(reload)).with_state(reloader)
}

async fn reload(State(reloader): State<Arc<Reloader>>) -> Response {
    axum::Json(reloader.rescan().await).into_response()
}
