//! The alias operations (Create/Describe/Update/Delete/ListStateMachineAliases), shaped as AWS
//! answers them.

use std::sync::Arc;

use serde_json::{Value, json};

use super::actions::{opt_str, page, paged, req_str};
use crate::daemon::error::{ServiceError, error};
use crate::daemon::service::Service;

pub async fn handle(svc: &Arc<Service>, action: &str, r: &Value) -> Result<Value, ServiceError> {
    match action {
        "CreateStateMachineAlias" => {
            let routing = r.get("routingConfiguration").unwrap_or(&Value::Null);
            let (arn, created) = svc
                .create_alias(req_str(r, "name")?, opt_str(r, "description")?, routing)
                .await?;
            Ok(json!({"stateMachineAliasArn": arn, "creationDate": created}))
        }
        "DescribeStateMachineAlias" => svc.describe_alias(req_str(r, "stateMachineAliasArn")?).await,
        "UpdateStateMachineAlias" => {
            let routing = r.get("routingConfiguration").filter(|v| !v.is_null());
            let updated = svc
                .update_alias(req_str(r, "stateMachineAliasArn")?, opt_str(r, "description")?, routing)
                .await?;
            Ok(json!({"updateDate": updated}))
        }
        "DeleteStateMachineAlias" => {
            svc.delete_alias(req_str(r, "stateMachineAliasArn")?).await?;
            Ok(json!({}))
        }
        "ListStateMachineAliases" => {
            let (start, max) = page(r)?;
            let all = svc.list_aliases(req_str(r, "stateMachineArn")?).await?;
            let (items, next) = paged(all, start, max);
            let mut v = json!({"stateMachineAliases": items.iter().map(|(a, c)| json!({"stateMachineAliasArn": a, "creationDate": c})).collect::<Vec<_>>()});
            if let Some(n) = next {
                v["nextToken"] = n.into();
            }
            Ok(v)
        }
        other => Err(error(
            "UnknownOperationException",
            format!("Unknown operation: AWSStepFunctions.{other}"),
        )),
    }
}
