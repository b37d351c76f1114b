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
    Some(match action {
        "SendTaskSuccess" => match (req_str(r, "taskToken"), req_str(r, "output")) {
            (Ok(token), Ok(output)) => svc.send_task_success(token, output).await.map(|()| json!({})),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        "SendTaskFailure" => match (req_str(r, "taskToken"), opt_str(r, "error"), opt_str(r, "cause")) {
            (Ok(token), Ok(err), Ok(cause)) => svc.send_task_failure(token, err, cause).await.map(|()| json!({})),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e),
        },
        "SendTaskHeartbeat" => match req_str(r, "taskToken") {
            Ok(token) => svc.send_task_heartbeat(token).await.map(|()| json!({})),
            Err(e) => Err(e),
        },
        "CreateActivity" => match (req_str(r, "name"), parse_tags(r.get("tags"))) {
            (Ok(name), Ok(tags)) => svc
                .create_activity(name, &tags)
                .await
                .map(|a| json!({"activityArn": a.arn, "creationDate": a.created})),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        "DescribeActivity" => match req_str(r, "activityArn") {
            Ok(arn) => svc.describe_activity(arn).await.map(|a| activity_json(&a)),
            Err(e) => Err(e),
        },
        "ListActivities" => match page(r) {
            Ok((start, max)) => svc.list_activities().await.map(|all| {
                let (items, next) = paged(all, start, max);
                let mut v = json!({"activities": items.iter().map(activity_json).collect::<Vec<_>>()});
                if let Some(n) = next {
                    v["nextToken"] = n.into();
                }
                v
            }),
            Err(e) => Err(e),
        },
        "DeleteActivity" => match req_str(r, "activityArn") {
            Ok(arn) => svc.delete_activity(arn).await.map(|()| json!({})),
            Err(e) => Err(e),
        },
        "GetActivityTask" => match (req_str(r, "activityArn"), opt_str(r, "workerName")) {
            (Ok(arn), Ok(worker)) => svc
                .get_activity_task(arn, worker.unwrap_or(""), LONG_POLL)
                .await
                .map(|task| match task {
                    Some(t) => json!({"taskToken": t.token, "input": t.input.unwrap_or_else(|| "{}".into())}),
                    // Nothing came within the poll: no token, as AWS answers.
                    None => json!({}),
                }),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        _ => return None,
    })
}
