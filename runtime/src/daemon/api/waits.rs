//! The API of Tasks that wait on the world outside: SendTaskSuccess/Failure/Heartbeat and the
//! activity operations, shaped as AWS answers them.

use std::sync::Arc;

use serde_json::{Value, json};

use super::actions::{opt_str, page, paged, req_str};
use crate::daemon::catalog::tags::parse_tags;
use crate::daemon::error::ServiceError;
use crate::daemon::service::Service;
use crate::daemon::waits::activities::LONG_POLL;
use crate::store::ActivityRecord;

type Result<T> = std::result::Result<T, ServiceError>;

fn activity_json(a: &ActivityRecord) -> Value {
    json!({"activityArn": a.arn, "name": a.name, "creationDate": a.created})
}

/// Answers `action` when it is one of these; `None` otherwise.
pub async fn handle(svc: &Arc<Service>, action: &str, r: &Value) -> Option<Result<Value>> {
    const ACTIONS: [&str; 8] = [
        "SendTaskSuccess",
        "SendTaskFailure",
        "SendTaskHeartbeat",
        "CreateActivity",
        "DescribeActivity",
        "ListActivities",
        "DeleteActivity",
        "GetActivityTask",
    ];
    if !ACTIONS.contains(&action) {
        return None;
    }
    Some(answer(svc, action, r).await)
}

async fn answer(svc: &Arc<Service>, action: &str, r: &Value) -> Result<Value> {
    Ok(match action {
        "SendTaskSuccess" => {
            svc.send_task_success(req_str(r, "taskToken")?, req_str(r, "output")?)
                .await?;
            json!({})
        }
        "SendTaskFailure" => {
            svc.send_task_failure(req_str(r, "taskToken")?, opt_str(r, "error")?, opt_str(r, "cause")?)
                .await?;
            json!({})
        }
        "SendTaskHeartbeat" => {
            svc.send_task_heartbeat(req_str(r, "taskToken")?).await?;
            json!({})
        }
        "CreateActivity" => {
            let a = svc
                .create_activity(req_str(r, "name")?, &parse_tags(r.get("tags"))?)
                .await?;
            json!({"activityArn": a.arn, "creationDate": a.created})
        }
        "DescribeActivity" => activity_json(&svc.describe_activity(req_str(r, "activityArn")?).await?),
        "ListActivities" => {
            let (start, max) = page(r)?;
            let (items, next) = paged(svc.list_activities().await?, start, max);
            let mut v = json!({"activities": items.iter().map(activity_json).collect::<Vec<_>>()});
            if let Some(n) = next {
                v["nextToken"] = n.into();
            }
            v
        }
        "DeleteActivity" => {
            svc.delete_activity(req_str(r, "activityArn")?).await?;
            json!({})
        }
        // GetActivityTask
        _ => {
            let worker = opt_str(r, "workerName")?.unwrap_or("");
            match svc
                .get_activity_task(req_str(r, "activityArn")?, worker, LONG_POLL)
                .await?
            {
                Some(t) => json!({"taskToken": t.token, "input": t.input.unwrap_or_else(|| "{}".into())}),
                // Nothing came within the poll: no token, as AWS answers.
                None => json!({}),
            }
        }
    })
}
