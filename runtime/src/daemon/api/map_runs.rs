//! The Map Run operations (DescribeMapRun, ListMapRuns, UpdateMapRun) and the child
//! executions of Map Runs as ListExecutions, DescribeExecution and GetExecutionHistory show
//! them, shaped as AWS answers them.

use std::sync::Arc;

use serde_json::{Value, json};

use super::actions::{opt_str, page, paged, req_str};
use crate::daemon::error::{ServiceError, error};
use crate::daemon::map_runs::{MapRunUpdate, map_run_json};
use crate::daemon::service::Service;
use crate::store::ChildExecution;

pub async fn handle(svc: &Arc<Service>, action: &str, r: &Value) -> Result<Value, ServiceError> {
    match action {
        "DescribeMapRun" => Ok(map_run_json(&svc.describe_map_run(req_str(r, "mapRunArn")?).await?)),
        "ListMapRuns" => {
            let (start, max) = page(r)?;
            let runs = svc.list_map_runs(req_str(r, "executionArn")?).await?;
            let items = runs
                .iter()
                .map(|m| {
                    let mut v = json!({"executionArn": m.execution_arn, "mapRunArn": m.arn,
                                       "stateMachineArn": m.state_machine_arn, "startDate": m.started});
                    if let Some(s) = m.stopped {
                        v["stopDate"] = s.into();
                    }
                    v
                })
                .collect();
            let (items, next) = paged(items, start, max);
            let mut v = json!({"mapRuns": items});
            if let Some(n) = next {
                v["nextToken"] = n.into();
            }
            Ok(v)
        }
        "UpdateMapRun" => {
            let update = MapRunUpdate {
                max_concurrency: r.get("maxConcurrency").and_then(Value::as_u64),
                tolerated_pct: r.get("toleratedFailurePercentage").and_then(Value::as_f64),
                tolerated_count: r.get("toleratedFailureCount").and_then(Value::as_u64),
            };
            svc.update_map_run(req_str(r, "mapRunArn")?, update).await?;
            Ok(json!({}))
        }
        other => Err(error(
            "UnknownOperationException",
            format!("Unknown operation: AWSStepFunctions.{other}"),
        )),
    }
}

/// ListExecutions of a Map Run (`mapRunArn`): its children that have ended.
pub async fn list_children(svc: &Arc<Service>, r: &Value, status: Option<&str>) -> Result<Value, ServiceError> {
    let (start, max) = page(r)?;
    let run = req_str(r, "mapRunArn")?;
    let children = svc.map_run_children(run, status).await?;
    let items = children.iter().map(|c| child_json(c, false)).collect();
    let (items, next) = paged(items, start, max);
    let mut v = json!({"executions": items});
    if let Some(n) = next {
        v["nextToken"] = n.into();
    }
    Ok(v)
}

/// A child execution as DescribeExecution (`full`) or ListExecutions shows it.
pub fn child_json(c: &ChildExecution, full: bool) -> Value {
    let mut v = json!({
        "executionArn": c.arn, "stateMachineArn": c.state_machine_arn, "name": c.name,
        "status": c.status, "startDate": c.started, "stopDate": c.stopped, "mapRunArn": c.map_run_arn,
        "redriveCount": 0,
    });
    if full {
        v["input"] = c.input.clone().into();
        v["inputDetails"] = json!({"included": true});
        if let Some(o) = &c.output {
            v["output"] = o.clone().into();
            v["outputDetails"] = json!({"included": true});
        }
        if let Some(e) = &c.error {
            v["error"] = e.clone().into();
        }
        if let Some(e) = &c.cause {
            v["cause"] = e.clone().into();
        }
        if c.status == "SUCCEEDED" {
            v["redriveStatus"] = "NOT_REDRIVABLE".into();
            v["redriveStatusReason"] = "Execution is SUCCEEDED and cannot be redriven".into();
        } else {
            // A child runs again when its parent is redriven, with the Map Run.
            v["redriveStatus"] = "REDRIVABLE_BY_MAP_RUN".into();
        }
    }
    v
}

/// A child execution's history: kept as its start and its end (its states' events are not).
pub fn child_history(c: &ChildExecution) -> Vec<Value> {
    let role = format!("arn:aws:iam::{}:role/wasmstep", crate::engine::ACCOUNT);
    let mut end = json!({"id": 2, "previousEventId": 1, "timestamp": c.stopped});
    match c.status.as_str() {
        "SUCCEEDED" => {
            end["type"] = "ExecutionSucceeded".into();
            end["executionSucceededEventDetails"] =
                json!({"output": c.output.clone().unwrap_or_default(), "outputDetails": {"truncated": false}});
        }
        status => {
            let (kind, key) = if status == "TIMED_OUT" {
                ("ExecutionTimedOut", "executionTimedOutEventDetails")
            } else {
                ("ExecutionFailed", "executionFailedEventDetails")
            };
            end["type"] = kind.into();
            let mut d = json!({});
            if let Some(e) = &c.error {
                d["error"] = e.clone().into();
            }
            if let Some(e) = &c.cause {
                d["cause"] = e.clone().into();
            }
            end[key] = d;
        }
    }
    vec![
        json!({"id": 1, "previousEventId": 0, "timestamp": c.started, "type": "ExecutionStarted",
               "executionStartedEventDetails": {"input": c.input, "inputDetails": {"truncated": false}, "roleArn": role}}),
        end,
    ]
}

/// `stateMachineArn` or `mapRunArn`, exactly one (ListExecutions).
pub fn list_target(r: &Value) -> Result<bool, ServiceError> {
    match (opt_str(r, "stateMachineArn")?, opt_str(r, "mapRunArn")?) {
        (Some(_), None) => Ok(false),
        (None, Some(_)) => Ok(true),
        _ => Err(error(
            "ValidationException",
            "Exactly one of stateMachineArn and mapRunArn must be given",
        )),
    }
}
