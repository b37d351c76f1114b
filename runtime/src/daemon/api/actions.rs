//! The Step Functions actions: request fields checked and mapped to the service, responses
//! shaped as AWS returns them (lowerCamelCase members, epoch-seconds timestamps, JSON text for
//! definitions, inputs and outputs).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::asl::MachineType;
use crate::daemon::catalog::tags::{parse_tags, tags_json};
use crate::daemon::catalog::type_name;
use crate::daemon::error::{ServiceError, error};
use crate::daemon::executions::ExecutionRow;
use crate::daemon::service::Service;

type Result<T> = std::result::Result<T, ServiceError>;

/// Largest execution input (bytes).
const MAX_INPUT: usize = 256 * 1024;

pub(super) fn validation(field: &str, what: &str) -> ServiceError {
    error(
        "ValidationException",
        format!("1 validation error detected: Value at '{field}' failed to satisfy constraint: {what}"),
    )
}

pub(super) fn req_str<'a>(r: &'a Value, field: &str) -> Result<&'a str> {
    match r.get(field) {
        None | Some(Value::Null) => Err(validation(field, "Member must not be null")),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(error("SerializationException", format!("'{field}' must be a string"))),
    }
}

pub(super) fn opt_str<'a>(r: &'a Value, field: &str) -> Result<Option<&'a str>> {
    match r.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(error("SerializationException", format!("'{field}' must be a string"))),
    }
}

fn opt_bool(r: &Value, field: &str) -> Result<Option<bool>> {
    match r.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(error("SerializationException", format!("'{field}' must be a boolean"))),
    }
}

/// maxResults: 0 or absent mean the default, 100; at most `limit`.
fn max_results(r: &Value, limit: u64) -> Result<usize> {
    match r.get("maxResults") {
        None | Some(Value::Null) => Ok(100),
        Some(v) => match v.as_u64() {
            Some(0) => Ok(100),
            Some(n) if n <= limit => Ok(n as usize),
            _ => Err(validation(
                "maxResults",
                &format!("Member must have value less than or equal to {limit}"),
            )),
        },
    }
}

/// maxResults (1..=1000, default 100) and nextToken (an offset we issued).
pub(super) fn page(r: &Value) -> Result<(usize, usize)> {
    let max = max_results(r, 1000)?;
    let start = match opt_str(r, "nextToken")? {
        None => 0,
        Some(t) => t
            .parse()
            .map_err(|_| error("InvalidToken", format!("Invalid Token: '{t}'")))?,
    };
    Ok((start, max))
}

pub(super) fn paged<T>(items: Vec<T>, start: usize, max: usize) -> (Vec<T>, Option<String>) {
    let total = items.len();
    let out: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start + max < total).then(|| (start + max).to_string());
    (out, next)
}

fn machine_type(r: &Value) -> Result<MachineType> {
    match opt_str(r, "type")? {
        None | Some("STANDARD") => Ok(MachineType::Standard),
        Some("EXPRESS") => Ok(MachineType::Express),
        Some(other) => Err(validation(
            "type",
            &format!("Member must satisfy enum value set: [STANDARD, EXPRESS], not {other}"),
        )),
    }
}

fn execution_json(e: &ExecutionRow, full: bool) -> Value {
    let mut v = json!({
        "executionArn": e.arn, "stateMachineArn": e.machine_arn, "name": e.name,
        "status": e.status, "startDate": e.started,
    });
    if let Some(s) = e.stopped {
        v["stopDate"] = s.into();
    }
    if let Some(a) = &e.version_arn {
        v["stateMachineVersionArn"] = a.clone().into();
    }
    if let Some(a) = &e.alias_arn {
        v["stateMachineAliasArn"] = a.clone().into();
    }
    v["redriveCount"] = e.redrive_count.into();
    if let Some(d) = e.redrive_date {
        v["redriveDate"] = d.into();
    }
    if full {
        v["input"] = e.input.clone().into();
        v["inputDetails"] = json!({"included": true});
        if let Some(o) = &e.output {
            v["output"] = o.clone().into();
            v["outputDetails"] = json!({"included": true});
        }
        if let Some(x) = &e.error {
            v["error"] = x.clone().into();
        }
        if let Some(x) = &e.cause {
            v["cause"] = x.clone().into();
        }
    }
    v
}

/// A history event as the API returns it: epoch-seconds timestamp; data fields dropped when
/// `includeExecutionData` is false.
fn api_event(mut e: Value, include_data: bool) -> Value {
    if let Some(ts) = e["timestamp"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    {
        e["timestamp"] = (ts.timestamp_micros() as f64 / 1e6).into();
    }
    if !include_data && let Some(m) = e.as_object_mut() {
        for (_, d) in m.iter_mut().filter(|(k, _)| k.ends_with("EventDetails")) {
            if let Some(d) = d.as_object_mut() {
                for k in ["input", "output", "parameters"] {
                    if d.remove(k).is_some() {
                        d.insert(format!("{k}Details"), json!({"included": false}));
                    }
                }
            }
        }
    }
    e
}

pub async fn handle(svc: &Arc<Service>, action: &str, r: &Value) -> Result<Value> {
    if matches!(action, "CreateStateMachine" | "UpdateStateMachine")
        && r.get("versionDescription").is_some_and(|d| !d.is_null())
        && !opt_bool(r, "publish")?.unwrap_or(false)
    {
        return Err(validation(
            "versionDescription",
            "Version description can only be set when publish is true",
        ));
    }
    match action {
        "CreateStateMachine" => {
            let t = machine_type(r)?;
            let tags = parse_tags(r.get("tags"))?;
            let m = svc
                .create_machine(
                    req_str(r, "name")?,
                    req_str(r, "definition")?,
                    req_str(r, "roleArn")?,
                    t,
                )
                .await?;
            if !tags.is_empty() {
                svc.tag_resource(&m.arn, &tags).await?;
            }
            let mut v = json!({"stateMachineArn": m.arn, "creationDate": m.created});
            if opt_bool(r, "publish")?.unwrap_or(false) {
                let (version, _) = svc.publish_version(&m.arn, opt_str(r, "versionDescription")?).await?;
                v["stateMachineVersionArn"] = version.into();
            }
            Ok(v)
        }
        "DescribeStateMachine" => {
            let arn = req_str(r, "stateMachineArn")?;
            let m = svc.resolve(arn).await?;
            Ok(json!({
                "stateMachineArn": m.arn, "name": m.name, "status": "ACTIVE", "definition": m.definition,
                "roleArn": m.role_arn, "type": type_name(m.machine_type), "creationDate": m.created,
                "revisionId": m.revision_id(),
                "loggingConfiguration": {"level": "OFF", "includeExecutionData": false},
                "tracingConfiguration": {"enabled": false},
            }))
        }
        "UpdateStateMachine" => {
            let arn = req_str(r, "stateMachineArn")?;
            let updated = svc
                .update_machine(arn, opt_str(r, "definition")?, opt_str(r, "roleArn")?)
                .await?;
            let mut v = json!({"updateDate": updated});
            if opt_bool(r, "publish")?.unwrap_or(false) {
                let (version, _) = svc.publish_version(arn, opt_str(r, "versionDescription")?).await?;
                v["stateMachineVersionArn"] = version.into();
            }
            Ok(v)
        }
        "PublishStateMachineVersion" => {
            let (version, created) = svc
                .publish_version(req_str(r, "stateMachineArn")?, opt_str(r, "description")?)
                .await?;
            Ok(json!({"stateMachineVersionArn": version, "creationDate": created}))
        }
        "ListStateMachineVersions" => {
            let (start, max) = page(r)?;
            let all = svc.list_versions(req_str(r, "stateMachineArn")?).await?;
            let (items, next) = paged(all, start, max);
            let mut v = json!({"stateMachineVersions": items.iter().map(|(a, c)| json!({"stateMachineVersionArn": a, "creationDate": c})).collect::<Vec<_>>()});
            if let Some(n) = next {
                v["nextToken"] = n.into();
            }
            Ok(v)
        }
        "DeleteStateMachineVersion" => {
            svc.delete_version(req_str(r, "stateMachineVersionArn")?).await?;
            Ok(json!({}))
        }
        "DeleteStateMachine" => {
            svc.delete_machine(req_str(r, "stateMachineArn")?).await?;
            Ok(json!({}))
        }
        "ListStateMachines" => {
            let (start, max) = page(r)?;
            let all: Vec<Value> = svc
                .list_machines()
                .iter()
                .map(|m| json!({"stateMachineArn": m.arn, "name": m.name, "type": type_name(m.machine_type), "creationDate": m.created}))
                .collect();
            let (items, next) = paged(all, start, max);
            let mut v = json!({"stateMachines": items});
            if let Some(n) = next {
                v["nextToken"] = n.into();
            }
            Ok(v)
        }
        "ValidateStateMachineDefinition" => {
            let warnings = match opt_str(r, "severity")? {
                None | Some("ERROR") => false,
                Some("WARNING") => true,
                Some(other) => {
                    return Err(validation(
                        "severity",
                        &format!("Member must satisfy enum value set: [ERROR, WARNING], not {other}"),
                    ));
                }
            };
            // AWS: at most 100 diagnostics per call.
            let max = max_results(r, 100)?;
            Ok(svc.validate(req_str(r, "definition")?, machine_type(r)?, warnings, max))
        }
        "StartExecution" => {
            let input = opt_str(r, "input")?.unwrap_or("{}");
            if input.len() > MAX_INPUT {
                return Err(validation(
                    "input",
                    "Member must have length less than or equal to 262144",
                ));
            }
            let e = svc
                .start_execution(req_str(r, "stateMachineArn")?, opt_str(r, "name")?, input)
                .await?;
            Ok(json!({"executionArn": e.arn, "startDate": e.started}))
        }
        "StartSyncExecution" => {
            let input = opt_str(r, "input")?.unwrap_or("{}");
            if input.len() > MAX_INPUT {
                return Err(validation(
                    "input",
                    "Member must have length less than or equal to 262144",
                ));
            }
            svc.start_sync_execution(req_str(r, "stateMachineArn")?, opt_str(r, "name")?, input)
                .await
        }
        "DescribeExecution" => {
            let arn = req_str(r, "executionArn")?;
            let e = match svc.describe_execution(arn).await {
                Err(e) if e.kind == "ExecutionDoesNotExist" => match svc.child_execution(arn).await? {
                    Some(c) => return Ok(super::map_runs::child_json(&c, true)),
                    None => return Err(e),
                },
                other => other?,
            };
            let mut v = execution_json(&e, true);
            let redrive = svc.redrive_status(&e).await;
            v["redriveStatus"] = redrive.status.into();
            if let Some(reason) = redrive.reason {
                v["redriveStatusReason"] = reason.into();
            }
            Ok(v)
        }
        "RedriveExecution" => {
            let token = opt_str(r, "clientToken")?;
            let date = svc.redrive_execution(req_str(r, "executionArn")?, token).await?;
            Ok(json!({"redriveDate": date}))
        }
        "DescribeStateMachineForExecution" => {
            let e = svc.describe_execution(req_str(r, "executionArn")?).await?;
            let name = e.machine_arn.rsplit(':').next().unwrap_or_default();
            Ok(
                json!({"stateMachineArn": e.machine_arn, "name": name, "definition": e.definition, "roleArn": format!("arn:aws:iam::{}:role/wasmstep", crate::engine::ACCOUNT), "updateDate": e.started}),
            )
        }
        "ListExecutions" => {
            let (start, max) = page(r)?;
            let status = opt_str(r, "statusFilter")?;
            if let Some(s) = status
                && ![
                    "RUNNING",
                    "SUCCEEDED",
                    "FAILED",
                    "TIMED_OUT",
                    "ABORTED",
                    "PENDING_REDRIVE",
                ]
                .contains(&s)
            {
                return Err(validation(
                    "statusFilter",
                    "Member must satisfy enum value set: [RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE]",
                ));
            }
            let redriven = match opt_str(r, "redriveFilter")? {
                None => None,
                Some("REDRIVEN") => Some(true),
                Some("NOT_REDRIVEN") => Some(false),
                Some(_) => {
                    return Err(validation(
                        "redriveFilter",
                        "Member must satisfy enum value set: [REDRIVEN, NOT_REDRIVEN]",
                    ));
                }
            };
            if super::map_runs::list_target(r)? {
                let mut v = super::map_runs::list_children(svc, r, status).await?;
                if let (Some(want), Some(items)) = (redriven, v["executions"].as_array_mut()) {
                    // Children are never redriven by themselves.
                    items.retain(|_| !want);
                }
                return Ok(v);
            }
            let rows = svc.list_executions(req_str(r, "stateMachineArn")?, status).await?;
            let items = rows
                .iter()
                .filter(|e| redriven.is_none_or(|want| (e.redrive_count > 0) == want))
                .map(|e| execution_json(e, false))
                .collect();
            let (items, next) = paged(items, start, max);
            let mut v = json!({"executions": items});
            if let Some(n) = next {
                v["nextToken"] = n.into();
            }
            Ok(v)
        }
        "GetExecutionHistory" => {
            let (start, max) = page(r)?;
            let include = opt_bool(r, "includeExecutionData")?.unwrap_or(true);
            let arn = req_str(r, "executionArn")?;
            let mut events = match svc.history(arn).await {
                Err(e) if e.kind == "ExecutionDoesNotExist" => match svc.child_execution(arn).await? {
                    Some(c) => super::map_runs::child_history(&c),
                    None => return Err(e),
                },
                other => other?,
            };
            if opt_bool(r, "reverseOrder")?.unwrap_or(false) {
                events.reverse();
            }
            let (items, next) = paged(events, start, max);
            let mut v = json!({"events": items.into_iter().map(|e| api_event(e, include)).collect::<Vec<_>>()});
            if let Some(n) = next {
                v["nextToken"] = n.into();
            }
            Ok(v)
        }
        "StopExecution" => {
            let stopped = svc
                .stop_execution(req_str(r, "executionArn")?, opt_str(r, "error")?, opt_str(r, "cause")?)
                .await?;
            Ok(json!({"stopDate": stopped}))
        }
        "TagResource" => {
            let tags = parse_tags(Some(r.get("tags").unwrap_or(&Value::Null)))?;
            if r.get("tags").is_none_or(Value::is_null) {
                return Err(validation("tags", "Member must not be null"));
            }
            svc.tag_resource(req_str(r, "resourceArn")?, &tags).await?;
            Ok(json!({}))
        }
        "UntagResource" => {
            let keys: Vec<String> = match r.get("tagKeys") {
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|k| {
                        k.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| error("SerializationException", "'tagKeys' must be a list of strings"))
                    })
                    .collect::<Result<_>>()?,
                None | Some(Value::Null) => return Err(validation("tagKeys", "Member must not be null")),
                Some(_) => return Err(error("SerializationException", "'tagKeys' must be a list of strings")),
            };
            svc.untag_resource(req_str(r, "resourceArn")?, &keys).await?;
            Ok(json!({}))
        }
        "ListTagsForResource" => {
            let arn = req_str(r, "resourceArn")?;
            svc.tagged(arn).await?;
            Ok(tags_json(&svc.list_tags(arn).await?))
        }
        other => match super::waits::handle(svc, other, r).await {
            Some(answer) => answer,
            None if other.contains("StateMachineAlias") => super::aliases::handle(svc, other, r).await,
            None if other.ends_with("MapRun") || other == "ListMapRuns" => super::map_runs::handle(svc, other, r).await,
            None => Err(error(
                "UnknownOperationException",
                format!("Unknown operation: AWSStepFunctions.{other}"),
            )),
        },
    }
}
