//! `GET /events`: execution status events as they happen, as server-sent events (for the
//! console and for `curl -N`). Each carries its outbox position as its SSE `id`, so a client
//! that reconnects with `Last-Event-ID` resumes where it was without a gap. Filters:
//! `?state_machine=NAME|ARN` and `?status=FAILED`, each repeatable.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use super::gate::Gate;
use super::{denied_response, error_response};
use crate::daemon::error::{error, unavailable};
use crate::daemon::service::Service;
use crate::daemon::triggers::events::{Filter, STATUSES, status_event};
use crate::store::Position;

/// How often the stream looks for new events.
const POLL: Duration = Duration::from_millis(250);

/// Most streams open at once: each reads the outbox four times a second, and a stranger
/// opening thousands must not take the store's reads from the executions.
pub const MAX_STREAMS: usize = 64;

/// Streams open now.
static OPEN: AtomicUsize = AtomicUsize::new(0);

/// One open stream, counted until it is dropped (the client went away or the daemon stops).
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        OPEN.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < MAX_STREAMS).then_some(n + 1)
        })
        .ok()
        .map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `tx.seq`, as the SSE id carries a position.
fn parse_position(text: &str) -> Option<Position> {
    let (tx, seq) = text.trim().split_once('.')?;
    Some(Position {
        tx: tx.parse().ok()?,
        seq: seq.parse().ok()?,
    })
}

pub async fn events(
    State(svc): State<Arc<Service>>,
    Extension(gate): Extension<Arc<Gate>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(d) = gate.same_site(&method, &headers) {
        return denied_response(d);
    }
    let key = match gate.authenticate(&method, &uri, &headers, &[]) {
        Ok(k) => k,
        Err(d) => return denied_response(d),
    };
    if let Err(d) = gate.permit(key.as_deref(), "states:DescribeExecution", "*") {
        return denied_response(d);
    }
    let mut filter = Filter::default();
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned() {
        match k.as_str() {
            "state_machine" => filter.state_machines.push(v),
            "status" if STATUSES.contains(&v.as_str()) => filter.statuses.push(v),
            other => {
                return error_response(error(
                    "ValidationException",
                    format!(
                        "/events takes state_machine= and status= ({}), not {other}={v}",
                        STATUSES.join(", ")
                    ),
                ));
            }
        }
    }
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_position);
    let start = match resume {
        Some(p) => p,
        None => match svc.store.last_position().await {
            Ok(p) => p,
            Err(e) => return error_response(unavailable(e)),
        },
    };
    let Some(slot) = Slot::take() else {
        return error_response(error(
            "ServiceUnavailable",
            format!("{MAX_STREAMS} event streams are open already; try again later"),
        ));
    };
    let stream = futures::stream::unfold(
        (svc, start, filter, VecDeque::<Event>::new(), slot),
        |(svc, mut cursor, filter, mut ready, slot)| async move {
            loop {
                // The daemon is stopping: end the stream (clients reconnect with Last-Event-ID).
                if svc.draining() {
                    return None;
                }
                if let Some(e) = ready.pop_front() {
                    return Some((Ok::<Event, Infallible>(e), (svc, cursor, filter, ready, slot)));
                }
                let batch = svc.store.status_events(cursor, 100).await.unwrap_or_default();
                if batch.is_empty() {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                for e in batch {
                    cursor = e.position;
                    let Some(row) = svc.store.execution(&e.execution).await.ok().flatten() else {
                        continue;
                    };
                    if filter.wants(&e, &row) {
                        let data = status_event(&e, &row).to_string();
                        ready.push_back(
                            Event::default()
                                .id(format!("{}.{}", cursor.tx, cursor.seq))
                                .event("status")
                                .data(data),
                        );
                    }
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}
