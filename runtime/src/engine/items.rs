//! Map state items: the item list, per-item counts and limits, and Distributed Map batches.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::ata::{self, States};
use super::step::{Fault, eval_template, show};
use crate::asl::model::*;
use crate::path::{ContextObject, Env, Vars, json_size, to_json_text};

/// The Map's items: ItemsPath (default `$`) over the effective input; must be an array.
pub fn map_items(
    state: &MapState,
    effective: &Value,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<Vec<Value>, Fault> {
    if state.io.language == QueryLanguage::JsonAta {
        return match &state.items {
            Some(a) => ata::eval_array(a, "Items", &States::new(effective, ctx), vars),
            None => match effective {
                Value::Array(a) => Ok(a.clone()),
                other => Err(Fault::Query {
                    location: None,
                    message: format!("Map state input must be an array but was: {}", to_json_text(other)),
                }),
            },
        };
    }
    let items = match &state.items_path {
        None => Cow::Borrowed(effective),
        Some(p) => {
            let env = Env {
                input: effective,
                context: ctx,
                vars,
            };
            Cow::Owned(p.value(&env).map_err(|miss| Fault::Runtime(p.miss_message(&miss)))?)
        }
    };
    match items.into_owned() {
        Value::Array(a) => Ok(a),
        other => Err(Fault::Runtime(format!(
            "Map state input must be an array but was: {}",
            to_json_text(&other)
        ))),
    }
}

/// What a `…Path` count field points at in the effective input.
fn path_value(p: &crate::path::Path, effective: &Value, ctx: &ContextObject<'_>, vars: &Vars) -> Result<Value, Fault> {
    let env = Env {
        input: effective,
        context: ctx,
        vars,
    };
    p.value(&env).map_err(|miss| Fault::Runtime(p.miss_message(&miss)))
}

/// Reads a Map count field (MaxConcurrency, ToleratedFailureCount).
pub fn map_count(
    c: &Option<Count<u64>>,
    field: &str,
    effective: &Value,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<Option<u64>, Fault> {
    match c {
        None => Ok(None),
        Some(Count::Fixed(n)) => Ok(Some(*n)),
        Some(Count::Expr(a)) => ata::eval_integer(a, field, 0, &States::new(effective, ctx), vars).map(Some),
        Some(Count::Path(p)) => {
            let v = path_value(p, effective, ctx, vars)?;
            let n = v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse::<i64>().ok()));
            match n {
                Some(n) if n < 0 => Err(Fault::Runtime(format!("{field} cannot be negative."))),
                Some(n) => Ok(Some(n as u64)),
                None => Err(Fault::Runtime(format!(
                    "The {field}Path field refers to value \"{}\" which is not a valid integer: {}",
                    show(&v),
                    p.text()
                ))),
            }
        }
    }
}

pub fn map_percentage(
    c: &Option<Count<f64>>,
    effective: &Value,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<Option<f64>, Fault> {
    match c {
        None => Ok(None),
        Some(Count::Fixed(x)) => Ok(Some(*x)),
        Some(Count::Expr(a)) => {
            ata::eval_percentage(a, "ToleratedFailurePercentage", &States::new(effective, ctx), vars).map(Some)
        }
        Some(Count::Path(p)) => {
            let v = path_value(p, effective, ctx, vars)?;
            let x = v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse::<f64>().ok()));
            match x {
                Some(x) if (0.0..=100.0).contains(&x) => Ok(Some(x)),
                Some(_) => Err(Fault::Runtime(
                    "ToleratedFailurePercentage must be between 0 and 100.".into(),
                )),
                None => Err(Fault::Runtime(format!(
                    "The ToleratedFailurePercentagePath field refers to value \"{}\" which is not a valid float: {}",
                    show(&v),
                    p.text()
                ))),
            }
        }
    }
}

/// Groups a Distributed Map's item inputs into batches: `{"BatchInput": ..., "Items": [...]}`,
/// each within MaxItemsPerBatch items and MaxInputBytesPerBatch bytes, as they come.
pub struct Batcher {
    max_items: u64,
    max_bytes: usize,
    batch_input: Option<Value>,
    /// The bytes of a batch without its items.
    overhead: usize,
    current: Vec<Value>,
    bytes: usize,
}

impl Batcher {
    pub fn new(b: &ItemBatcher, effective: &Value, ctx: &ContextObject<'_>, vars: &Vars) -> Result<Batcher, Fault> {
        let max_items = map_count(&b.max_items, "MaxItemsPerBatch", effective, ctx, vars)?
            .unwrap_or(u64::MAX)
            .max(1);
        let max_bytes =
            map_count(&b.max_bytes, "MaxInputBytesPerBatch", effective, ctx, vars)?.unwrap_or(u64::MAX) as usize;
        let batch_input = match &b.batch_input {
            None => None,
            Some(Payload::Path(t)) => Some(eval_template(t, effective, ctx, vars)?),
            Some(Payload::Ata(a)) => Some(ata::eval(
                a,
                "ItemBatcher/BatchInput",
                &States::new(effective, ctx),
                vars,
            )?),
        };
        // `{"BatchInput":…,"Items":[]}` without the items.
        let overhead = 12 + batch_input.as_ref().map(|v| 14 + json_size(v)).unwrap_or(0);
        Ok(Batcher {
            max_items,
            max_bytes,
            batch_input,
            overhead,
            current: Vec::new(),
            bytes: overhead,
        })
    }

    /// Adds an item; returns the batch it completed, if it did.
    pub fn push(&mut self, item: Value) -> Option<Value> {
        let size = json_size(&item) + 1;
        let full = !self.current.is_empty()
            && (self.current.len() as u64 >= self.max_items || self.bytes + size > self.max_bytes);
        let done = full.then(|| self.take());
        self.bytes += size;
        self.current.push(item);
        done
    }

    /// The last batch, if items are left.
    pub fn finish(&mut self) -> Option<Value> {
        (!self.current.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Value {
        self.bytes = self.overhead;
        let mut m = Map::new();
        if let Some(bi) = &self.batch_input {
            m.insert("BatchInput".into(), bi.clone());
        }
        m.insert("Items".into(), Value::Array(std::mem::take(&mut self.current)));
        Value::Object(m)
    }
}

/// Batches a whole list of item inputs.
pub fn batch_items(
    b: &ItemBatcher,
    items: Vec<Value>,
    effective: &Value,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<Vec<Value>, Fault> {
    let mut batcher = Batcher::new(b, effective, ctx, vars)?;
    let mut batches: Vec<Value> = items.into_iter().filter_map(|i| batcher.push(i)).collect();
    batches.extend(batcher.finish());
    Ok(batches)
}
