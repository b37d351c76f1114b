//! Execution status events shaped exactly as EventBridge delivers Step Functions' "Step
//! Functions Execution Status Change": the envelope (`version`, `id`, `detail-type`, `source`,
//! `account`, `time`, `region`, `resources`) around the execution's `detail`. An event's `id`
//! is derived from its place in the outbox, so a delivery made again carries the same id.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::engine::{ACCOUNT, REGION};
use crate::store::{ExecutionRecord, StatusEvent};

pub const DETAIL_TYPE: &str = "Step Functions Execution Status Change";

/// The event's stable id: a UUID from the execution, the status and the outbox position.
pub fn event_id(e: &StatusEvent) -> String {
    let h = Sha256::digest(format!("{}|{}|{}.{}", e.execution, e.status, e.position.tx, e.position.seq).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&h[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

fn millis(secs: f64) -> i64 {
    (secs * 1000.0).round() as i64
}

/// The event for a status change of `row` (the execution as recorded now: a RUNNING event
/// shows none of how it ended, even when delivered after the end).
pub fn status_event(e: &StatusEvent, row: &ExecutionRecord) -> Value {
    let ended = e.status != "RUNNING";
    let time = DateTime::<Utc>::from_timestamp_micros((e.at * 1e6) as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let output = if e.status == "SUCCEEDED" {
        row.output.clone()
    } else {
        None
    };
    let mut detail = json!({
        "executionArn": row.arn,
        "stateMachineArn": row.machine_arn,
        "name": row.name,
        "status": e.status,
        "startDate": millis(row.started),
        "stopDate": if ended { row.stopped.map(millis).map(Value::from).unwrap_or(json!(millis(e.at))) } else { Value::Null },
        "input": row.input,
        "output": output,
        "inputDetails": {"included": true},
        "outputDetails": if output.is_some() { json!({"included": true}) } else { Value::Null },
        "error": if ended { row.error.clone() } else { None },
        "cause": if ended { row.cause.clone() } else { None },
        "redriveCount": 0,
        "redriveStatus": "NOT_REDRIVABLE",
        "redriveStatusReason": format!("Execution is {} and cannot be redriven", e.status),
    });
    if let Some(v) = &row.version_arn {
        detail["stateMachineVersionArn"] = json!(v);
    }
    json!({
        "version": "0",
        "id": event_id(e),
        "detail-type": DETAIL_TYPE,
        "source": "aws.states",
        "account": ACCOUNT,
        "time": time,
        "region": REGION,
        "resources": [row.arn],
        "detail": detail,
    })
}

/// Which events a listener wants: state machines (by name or ARN) and statuses; empty lists
/// take everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub state_machines: Vec<String>,
    pub statuses: Vec<String>,
}

impl Filter {
    pub fn wants(&self, e: &StatusEvent, row: &ExecutionRecord) -> bool {
        let name = row.machine_arn.rsplit(':').next().unwrap_or_default();
        (self.state_machines.is_empty() || self.state_machines.iter().any(|m| m == name || *m == row.machine_arn))
            && (self.statuses.is_empty() || self.statuses.contains(&e.status))
    }
}

/// The statuses an event can have.
pub const STATUSES: [&str; 5] = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Position;

    fn row() -> ExecutionRecord {
        ExecutionRecord {
            arn: "arn:aws:states:us-east-1:123456789012:execution:orders:e1".into(),
            machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:orders".into(),
            name: "e1".into(),
            status: "SUCCEEDED".into(),
            definition: "{}".into(),
            input: "{\"n\":1}".into(),
            output: Some("{\"n\":2}".into()),
            error: None,
            cause: None,
            started: 1_700_000_000.25,
            stopped: Some(1_700_000_001.5),
            version_arn: None,
            handler_set: None,
            redrive_count: 0,
            redrive_date: None,
            redrive_token: None,
            alias_arn: None,
        }
    }

    fn event(status: &str, seq: i64, at: f64) -> StatusEvent {
        StatusEvent {
            position: Position { tx: 0, seq },
            execution: row().arn,
            status: status.into(),
            at,
        }
    }

    #[test]
    fn the_eventbridge_shape_before_and_after_the_end() {
        let running = status_event(&event("RUNNING", 1, 1_700_000_000.25), &row());
        assert_eq!(running["detail-type"], DETAIL_TYPE);
        assert_eq!(running["source"], "aws.states");
        assert_eq!(running["time"], "2023-11-14T22:13:20Z");
        assert_eq!(running["resources"], json!([row().arn]));
        let d = &running["detail"];
        assert_eq!(d["status"], "RUNNING");
        assert_eq!(d["startDate"], 1_700_000_000_250i64);
        assert!(d["stopDate"].is_null() && d["output"].is_null() && d["outputDetails"].is_null());
        let done = status_event(&event("SUCCEEDED", 2, 1_700_000_001.5), &row());
        assert_eq!(done["detail"]["output"], "{\"n\":2}");
        assert_eq!(done["detail"]["stopDate"], 1_700_000_001_500i64);
        assert_eq!(done["detail"]["outputDetails"], json!({"included": true}));
        // The same event gets the same id; another, another.
        assert_eq!(running["id"], status_event(&event("RUNNING", 1, 1.0), &row())["id"]);
        assert_ne!(running["id"], done["id"]);
    }

    #[test]
    fn filters_by_state_machine_name_or_arn_and_status() {
        let e = event("FAILED", 3, 1.0);
        assert!(Filter::default().wants(&e, &row()));
        let f = Filter {
            state_machines: vec!["orders".into()],
            statuses: vec!["FAILED".into(), "TIMED_OUT".into()],
        };
        assert!(f.wants(&e, &row()));
        assert!(!f.wants(&event("SUCCEEDED", 4, 1.0), &row()));
        let g = Filter {
            state_machines: vec!["arn:aws:states:us-east-1:123456789012:stateMachine:other".into()],
            statuses: vec![],
        };
        assert!(!g.wants(&e, &row()));
    }
}
