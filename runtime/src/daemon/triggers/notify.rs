//! Delivering status events to the config's `[[notify]]` targets: an HTTP POST webhook, or a
//! state machine started with the event as its input. Each target reads the outbox from a
//! cursor of its own, kept in the store, and moves it only past events it has had: delivery is
//! at-least-once across restarts, with the same `id` each time. A target that is down is
//! retried with backoff, forever, in a task of its own — executions never wait for it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::events::{Filter, STATUSES, status_event};
use crate::daemon::arns::machine_arn;
use crate::daemon::service::Service;
use crate::store::{Position, StatusEvent};

/// How often a target looks for new events when it has had them all.
const POLL: Duration = Duration::from_millis(250);

/// Events read from the outbox at once.
const BATCH: usize = 100;

/// A webhook's time to connect and answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait between two attempts at a failing target.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// `[[notify]]` in the config file, as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyFile {
    /// Names the target's cursor (default: its URL or state machine); renaming a target makes
    /// it start afresh from the newest event.
    pub name: Option<String>,
    pub url: Option<String>,
    pub state_machine: Option<String>,
    #[serde(default)]
    pub state_machines: Vec<String>,
    #[serde(default)]
    pub statuses: Vec<String>,
    /// Extra headers for a webhook (an `Authorization` the receiver checks).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Where a target's events go.
#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    Webhook {
        url: String,
        headers: BTreeMap<String, String>,
    },
    /// A state machine's ARN.
    StateMachine(String),
}

/// A `[[notify]]` target, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyTarget {
    pub key: String,
    pub destination: Destination,
    pub filter: Filter,
}

impl NotifyFile {
    /// Checks one `[[notify]]` table (the `n`th) into a target.
    pub fn validate(self, n: usize) -> Result<NotifyTarget, String> {
        let at = format!("[[notify]] #{n}");
        let destination = match (self.url, self.state_machine) {
            (Some(url), None) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!("{at}: url = {url:?} must be an http:// or https:// URL"));
                }
                Destination::Webhook {
                    url,
                    headers: self.headers,
                }
            }
            (None, Some(m)) => {
                if !self.headers.is_empty() {
                    return Err(format!("{at}: headers are for a url target"));
                }
                Destination::StateMachine(if m.starts_with("arn:") { m } else { machine_arn(&m) })
            }
            _ => return Err(format!("{at}: give exactly one of url or state_machine")),
        };
        for s in &self.statuses {
            if !STATUSES.contains(&s.as_str()) {
                return Err(format!("{at}: unknown status {s:?} (one of {})", STATUSES.join(", ")));
            }
        }
        let key = self.name.unwrap_or_else(|| match &destination {
            Destination::Webhook { url, .. } => format!("url:{url}"),
            Destination::StateMachine(arn) => format!("state_machine:{arn}"),
        });
        Ok(NotifyTarget {
            key,
            destination,
            filter: Filter {
                state_machines: self.state_machines,
                statuses: self.statuses,
            },
        })
    }
}

/// How often a node renews its hold on a target it delivers to (well within a lease).
const RENEW: Duration = Duration::from_secs(2);

/// This node's hold on delivering to one target.
#[derive(Default)]
struct Lease {
    until: Option<std::time::Instant>,
}

impl Lease {
    /// Whether this node delivers to `target` now, renewing its hold when due.
    async fn hold(&mut self, svc: &Service, target: &str) -> bool {
        let now = std::time::Instant::now();
        if self.until.is_some_and(|u| u > now) {
            return true;
        }
        let held = svc.store.hold_target(target).await.unwrap_or(false);
        self.until = held.then(|| now + RENEW);
        held
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(7)).min(MAX_BACKOFF)
}

impl Service {
    /// Delivers events to one target until the daemon stops (on a shared store, while this
    /// node holds the target's delivery lease; another node takes over when it stops renewing).
    pub async fn deliver_events(self: Arc<Self>, target: NotifyTarget) {
        let label = [target.key.as_str()];
        let m = &self.metrics.triggers;
        let mut lease = Lease::default();
        let mut cursor = None;
        loop {
            if self.draining() {
                return;
            }
            if !lease.hold(&self, &target.key).await {
                // Another node delivers; when this one takes over, it reads the cursor afresh.
                cursor = None;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            let at = match cursor {
                Some(c) => c,
                None => match self.first_cursor(&target.key).await {
                    Ok(c) => *cursor.insert(c),
                    Err(e) => {
                        tracing::warn!(target = %target.key, "cannot read the status-event outbox: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                },
            };
            let batch = match self.store.status_events(at, BATCH).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(target = %target.key, "cannot read the status-event outbox: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if batch.is_empty() {
                tokio::time::sleep(POLL).await;
                continue;
            }
            'batch: for e in &batch {
                if let Some(event) = self.event_for(&target, e).await {
                    let mut attempt = 0u32;
                    loop {
                        if self.draining() {
                            return;
                        }
                        if !lease.hold(&self, &target.key).await {
                            // Lost to another node (a long pause here): it goes on from the
                            // cursor on record.
                            cursor = None;
                            break 'batch;
                        }
                        match self.send_event(&target, &event).await {
                            Ok(()) => {
                                m.events_delivered.with_label_values(&label).inc();
                                m.target_failing.with_label_values(&label).set(0);
                                break;
                            }
                            Err(why) => {
                                m.event_failures.with_label_values(&label).inc();
                                m.target_failing.with_label_values(&label).set(1);
                                if attempt.is_power_of_two() || attempt == 0 {
                                    tracing::warn!(target = %target.key, attempt = attempt + 1, event = %event["id"], "a status event could not be delivered; retrying: {why}");
                                }
                                tokio::time::sleep(backoff(attempt)).await;
                                attempt += 1;
                            }
                        }
                    }
                }
                cursor = Some(e.position);
                self.store.set_cursor(&target.key, e.position);
            }
            if let Err(e) = self.store.flush().await {
                tracing::warn!(target = %target.key, "the delivery cursor could not be recorded (events since will be sent again): {e}");
            }
        }
    }

    /// Where a target reads from: its cursor, or the newest event for a new target (which
    /// gets what happens from now on, not the whole past).
    async fn first_cursor(&self, key: &str) -> Result<Position, crate::store::StoreError> {
        if let Some(c) = self.store.cursor(key).await? {
            return Ok(c);
        }
        let head = self.store.last_position().await?;
        self.store.set_cursor(key, head);
        self.store.flush().await?;
        Ok(head)
    }

    /// The event a target gets for an outbox entry, if it wants it.
    async fn event_for(&self, target: &NotifyTarget, e: &StatusEvent) -> Option<Value> {
        // Gone (deleted with its state machine): nothing to tell.
        let row = self.store.execution(&e.execution).await.ok().flatten()?;
        if !target.filter.wants(e, &row) {
            return None;
        }
        // A workflow told of its own executions would start itself forever.
        if matches!(&target.destination, Destination::StateMachine(arn) if *arn == row.machine_arn) {
            return None;
        }
        Some(status_event(e, &row))
    }

    async fn send_event(self: &Arc<Self>, target: &NotifyTarget, event: &Value) -> Result<(), String> {
        match &target.destination {
            Destination::Webhook { url, headers } => {
                let (url, headers, body) = (url.clone(), headers.clone(), event.to_string());
                tokio::task::spawn_blocking(move || post(&url, &headers, &body))
                    .await
                    .map_err(|e| e.to_string())?
            }
            Destination::StateMachine(arn) => {
                // Named by the event's id: a delivery made again starts nothing new.
                let name = event["id"].as_str().unwrap_or_default();
                match self.start_execution(arn, Some(name), &event.to_string()).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind == "ExecutionAlreadyExists" => Ok(()),
                    Err(e) => Err(format!("{}: {}", e.kind, e.message)),
                }
            }
        }
    }
}

/// One POST of an event; any 2xx answer counts as delivered.
fn post(url: &str, headers: &BTreeMap<String, String>, body: &str) -> Result<(), String> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(WEBHOOK_TIMEOUT))
            .http_status_as_error(false)
            .build(),
    );
    let mut req = agent.post(url).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let res = req.send(body).map_err(|e| format!("POST {url}: {e}"))?;
    let status = res.status().as_u16();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("POST {url}: HTTP {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked() {
        let t = NotifyFile {
            url: Some("http://127.0.0.1:9/hook".into()),
            statuses: vec!["FAILED".into()],
            ..Default::default()
        }
        .validate(1)
        .unwrap();
        assert_eq!(t.key, "url:http://127.0.0.1:9/hook");
        let t = NotifyFile {
            state_machine: Some("audit".into()),
            ..Default::default()
        }
        .validate(2)
        .unwrap();
        assert_eq!(
            t.destination,
            Destination::StateMachine("arn:aws:states:us-east-1:123456789012:stateMachine:audit".into())
        );
        for (bad, why) in [
            (NotifyFile::default(), "exactly one of url or state_machine"),
            (
                NotifyFile {
                    url: Some("ftp://x".into()),
                    ..Default::default()
                },
                "http:// or https://",
            ),
            (
                NotifyFile {
                    url: Some("http://x".into()),
                    statuses: vec!["DONE".into()],
                    ..Default::default()
                },
                "unknown status \"DONE\"",
            ),
        ] {
            let e = bad.validate(3).unwrap_err();
            assert!(e.contains(why) && e.contains("[[notify]] #3"), "{e}");
        }
    }
}
