//! EventBridge Scheduler's API on the daemon's port, as its REST-JSON protocol has it
//! (`POST /schedules/{Name}`, `GET /schedules?ScheduleGroup=…`, `/schedule-groups/{Name}`,
//! `/tags/{ResourceArn}`), so `aws scheduler … --endpoint-url` and boto3's `scheduler` client
//! work. A request's URI, query and body members are put together and checked against
//! botocore's model before the service sees them; errors carry `x-amzn-ErrorType`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::gate::Gate;
use super::{denied_response, read_body};
use crate::daemon::error::{ServiceError, error};
use crate::daemon::service::Service;
use crate::daemon::triggers::schedules::{DEFAULT_GROUP, group_arn, schedule_arn};

/// The routes; each answers every method its path has in the model.
pub fn router() -> Router<Arc<Service>> {
    Router::new()
        .route("/schedules", get(route))
        .route("/schedules/{name}", get(route).post(route).put(route).delete(route))
        .route("/schedule-groups", get(route))
        .route("/schedule-groups/{name}", get(route).post(route).delete(route))
        .route("/tags/{arn}", get(route).post(route).delete(route))
}

/// The operation a method and path stand for, and the path's label (a name or an ARN,
/// percent-decoded).
fn operation(method: &Method, path: &str) -> Option<(&'static str, Option<String>)> {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (collection, label) = (parts.next()?, parts.next());
    let label = label.map(|l| percent_encoding::percent_decode_str(l).decode_utf8_lossy().to_string());
    let op = match (collection, label.is_some(), method) {
        ("schedules", false, _) => "ListSchedules",
        ("schedules", true, &Method::POST) => "CreateSchedule",
        ("schedules", true, &Method::PUT) => "UpdateSchedule",
        ("schedules", true, &Method::DELETE) => "DeleteSchedule",
        ("schedules", true, _) => "GetSchedule",
        ("schedule-groups", false, _) => "ListScheduleGroups",
        ("schedule-groups", true, &Method::POST) => "CreateScheduleGroup",
        ("schedule-groups", true, &Method::DELETE) => "DeleteScheduleGroup",
        ("schedule-groups", true, _) => "GetScheduleGroup",
        ("tags", true, &Method::POST) => "TagResource",
        ("tags", true, &Method::DELETE) => "UntagResource",
        ("tags", true, _) => "ListTagsForResource",
        _ => return None,
    };
    Some((op, label))
}

async fn route(State(svc): State<Arc<Service>>, Extension(gate): Extension<Arc<Gate>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some((op, label)) = operation(&parts.method, parts.uri.path()) else {
        return error_response(error(
            "ValidationException",
            format!("No operation at {}", parts.uri.path()),
        ));
    };
    let call = Call {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
    };
    serve(&svc, &gate, op, label, call).await
}

/// What the handlers share: the request's parts.
struct Call {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
}

/// The query parameters an operation takes, by their wire name and member name.
fn query_members(op: &str) -> &'static [(&'static str, &'static str)] {
    match op {
        "GetSchedule" => &[("groupName", "GroupName")],
        "DeleteSchedule" => &[("groupName", "GroupName"), ("clientToken", "ClientToken")],
        "DeleteScheduleGroup" => &[("clientToken", "ClientToken")],
        "ListSchedules" => &[
            ("ScheduleGroup", "GroupName"),
            ("NamePrefix", "NamePrefix"),
            ("State", "State"),
            ("NextToken", "NextToken"),
            ("MaxResults", "MaxResults"),
        ],
        "ListScheduleGroups" => &[
            ("NamePrefix", "NamePrefix"),
            ("NextToken", "NextToken"),
            ("MaxResults", "MaxResults"),
        ],
        _ => &[],
    }
}

/// The request as one object of members: the body's, the query's and the URI's.
fn members(op: &str, label: Option<String>, uri: &Uri, body: &[u8]) -> Result<Value, ServiceError> {
    let mut request: Map<String, Value> = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice(body) {
            Ok(Value::Object(m)) => m,
            _ => return Err(error("ValidationException", "The request body must be a JSON object")),
        }
    };
    let query: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    for (wire, member) in query_members(op) {
        if let Some((_, v)) = query.iter().find(|(k, _)| k == wire) {
            let value = if *member == "MaxResults" {
                v.parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| error("ValidationException", format!("MaxResults must be a number, not '{v}'")))?
            } else {
                json!(v)
            };
            request.insert(member.to_string(), value);
        }
    }
    if op == "UntagResource" {
        let keys: Vec<Value> = query
            .iter()
            .filter(|(k, _)| k == "TagKeys")
            .map(|(_, v)| json!(v))
            .collect();
        request.insert("TagKeys".into(), Value::Array(keys));
    }
    if let Some(l) = label {
        let key = if op.ends_with("Resource") {
            "ResourceArn"
        } else {
            "Name"
        };
        request.insert(key.into(), json!(l));
    }
    Ok(Value::Object(request))
}

/// The resource a policy sees for a request.
fn resource(op: &str, r: &Value) -> String {
    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
    match op {
        "CreateSchedule" | "UpdateSchedule" | "GetSchedule" | "DeleteSchedule" => {
            let g = r.get("GroupName").and_then(Value::as_str).unwrap_or(DEFAULT_GROUP);
            schedule_arn(g, s("Name"))
        }
        "CreateScheduleGroup" | "GetScheduleGroup" | "DeleteScheduleGroup" => group_arn(s("Name")),
        "TagResource" | "UntagResource" | "ListTagsForResource" => s("ResourceArn").to_string(),
        _ => "*".into(),
    }
}

async fn serve(svc: &Arc<Service>, gate: &Gate, op: &str, label: Option<String>, call: Call) -> Response {
    if let Err(d) = gate.same_site(&call.method, &call.headers) {
        return denied_response(d);
    }
    let body = match read_body(call.body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let key = match gate.authenticate_as("scheduler", &call.method, &call.uri, &call.headers, &body) {
        Ok(k) => k,
        Err(d) => return denied_response(d),
    };
    let request = match members(op, label, &call.uri, &body) {
        Ok(r) => r,
        Err(e) => return error_response(e),
    };
    if call.method != Method::GET
        && let Some(why) = svc.cannot_write()
    {
        return error_response(error(
            "InternalServerException",
            format!("the store cannot write now ({why}); try again later"),
        ));
    }
    if let Err(d) = gate.permit(key.as_deref(), &format!("scheduler:{op}"), &resource(op, &request)) {
        return denied_response(d);
    }
    if let Err(e) = super::shapes::check_scheduler(op, &request) {
        return error_response(e);
    }
    match answer(svc, op, &request).await {
        Ok(v) => {
            let mut r = (StatusCode::OK, v.to_string()).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Err(e) => error_response(e),
    }
}

async fn answer(svc: &Arc<Service>, op: &str, r: &Value) -> Result<Value, ServiceError> {
    let s = |k: &str| r.get(k).and_then(Value::as_str);
    let name = s("Name").unwrap_or_default();
    match op {
        "CreateSchedule" => svc.create_schedule(name, r).await,
        "UpdateSchedule" => svc.update_schedule(name, r).await,
        "GetSchedule" => svc.get_schedule(name, s("GroupName")).await,
        "DeleteSchedule" => svc.delete_schedule(name, s("GroupName")).await,
        "ListSchedules" => svc.list_schedules(r).await,
        "CreateScheduleGroup" => svc.create_schedule_group(name, r).await,
        "GetScheduleGroup" => svc.get_schedule_group(name).await,
        "DeleteScheduleGroup" => svc.delete_schedule_group(name).await,
        "ListScheduleGroups" => svc.list_schedule_groups(r).await,
        "ListTagsForResource" => {
            let arn = svc.tagged_group(s("ResourceArn").unwrap_or_default()).await?;
            let tags = svc.store.tags(&arn).await.map_err(crate::daemon::error::unavailable)?;
            Ok(json!({"Tags": tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>()}))
        }
        "TagResource" => {
            let arn = svc.tagged_group(s("ResourceArn").unwrap_or_default()).await?;
            for t in r.get("Tags").and_then(Value::as_array).into_iter().flatten() {
                if let (Some(k), Some(v)) = (
                    t.get("Key").and_then(Value::as_str),
                    t.get("Value").and_then(Value::as_str),
                ) {
                    svc.store.put_tag(&arn, k, v);
                }
            }
            svc.store.flush().await.map_err(crate::daemon::error::unavailable)?;
            Ok(json!({}))
        }
        "UntagResource" => {
            let arn = svc.tagged_group(s("ResourceArn").unwrap_or_default()).await?;
            for k in r.get("TagKeys").and_then(Value::as_array).into_iter().flatten() {
                if let Some(k) = k.as_str() {
                    svc.store.delete_tag(&arn, k);
                }
            }
            svc.store.flush().await.map_err(crate::daemon::error::unavailable)?;
            Ok(json!({}))
        }
        _ => Err(error("ValidationException", format!("Unknown operation {op}"))),
    }
}

/// Scheduler's errors: the HTTP status its model gives each, the type in `x-amzn-ErrorType`,
/// and `{"Message": …}`.
fn error_response(e: ServiceError) -> Response {
    let kind = match e.kind {
        "SerializationException" => "ValidationException",
        "ServiceUnavailable" => "InternalServerException",
        k => k,
    };
    let status = match kind {
        "ResourceNotFoundException" => StatusCode::NOT_FOUND,
        "ConflictException" => StatusCode::CONFLICT,
        "ServiceQuotaExceededException" => StatusCode::PAYMENT_REQUIRED,
        "ThrottlingException" => StatusCode::TOO_MANY_REQUESTS,
        "InternalServerException" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut r = (status, json!({"Message": e.message}).to_string()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(kind) {
        h.insert("x-amzn-ErrorType", v);
    }
    r
}
