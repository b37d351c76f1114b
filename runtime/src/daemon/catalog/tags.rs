//! Resource tags (TagResource, UntagResource, ListTagsForResource, CreateStateMachine's `tags`):
//! key/value pairs on state machines, kept in the store's `tags` table.

use serde_json::{Value, json};

use crate::daemon::error::{ServiceError, error, unavailable};
use crate::daemon::service::Service;

type Result<T> = std::result::Result<T, ServiceError>;

/// AWS's limit on tags per resource.
const MAX_TAGS: usize = 50;

/// `[{"key", "value"}]` from a request, checked against AWS's length rules.
pub fn parse_tags(v: Option<&Value>) -> Result<Vec<(String, String)>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let items = v
        .as_array()
        .ok_or_else(|| error("SerializationException", "'tags' must be a list of {key, value}"))?;
    let mut out = Vec::with_capacity(items.len());
    for t in items {
        let key = t["key"]
            .as_str()
            .ok_or_else(|| error("SerializationException", "each tag needs a string 'key'"))?;
        let value = match &t["value"] {
            Value::Null => "",
            Value::String(s) => s,
            _ => return Err(error("SerializationException", "a tag's 'value' must be a string")),
        };
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(error(
                "ValidationException",
                format!("Tag key must be 1 to 128 characters and value at most 256: '{key}'"),
            ));
        }
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
}

impl Service {
    /// The state machine or activity a tag request names, or ResourceNotFound.
    pub async fn tagged(&self, arn: &str) -> Result<()> {
        let not_found = || error("ResourceNotFound", format!("Resource not found: '{arn}'"));
        if arn.contains(":activity:") {
            return match self.activity_exists(arn).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(not_found()),
                Err(e) => Err(unavailable(e)),
            };
        }
        self.machine(arn).map(|_| ()).map_err(|e| match e.kind {
            "StateMachineDoesNotExist" => not_found(),
            _ => e,
        })
    }

    pub async fn list_tags(&self, arn: &str) -> Result<Vec<(String, String)>> {
        self.store.tags(arn).await.map_err(unavailable)
    }

    /// Adds or replaces tags; more than 50 on one resource is TooManyTags.
    pub async fn tag_resource(&self, arn: &str, tags: &[(String, String)]) -> Result<()> {
        self.tagged(arn).await?;
        let mut keys: Vec<String> = self.list_tags(arn).await?.into_iter().map(|(k, _)| k).collect();
        keys.extend(tags.iter().map(|(k, _)| k.clone()));
        keys.sort();
        keys.dedup();
        if keys.len() > MAX_TAGS {
            return Err(error(
                "TooManyTags",
                format!("Too many tags: a resource can have at most {MAX_TAGS}"),
            ));
        }
        for (k, v) in tags {
            self.store.put_tag(arn, k, v);
        }
        self.store.flush().await.map_err(unavailable)
    }

    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<()> {
        self.tagged(arn).await?;
        for k in keys {
            self.store.delete_tag(arn, k);
        }
        self.store.flush().await.map_err(unavailable)
    }
}

/// The ListTagsForResource answer.
pub fn tags_json(tags: &[(String, String)]) -> Value {
    json!({"tags": tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()})
}
