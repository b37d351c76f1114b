//! A Distributed Map's `ResultWriter`: each child as AWS writes it (its execution record, or
//! its output for `COMPACT`/`FLATTEN`), streamed into `SUCCEEDED_n`, `FAILED_n` and
//! `PENDING_n` files under `PREFIX/MAP_RUN_ID/` in the bucket as children finish, then
//! `manifest.json` naming them; the Map's output becomes `{"MapRunArn", "ResultWriterDetails"}`.
//! Without an export, `WriterConfig`'s transformation shapes the Map's output array instead.

use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::ata::{self, States};
use super::error::AslError;
use super::step::{Fault, eval_template};
use crate::asl::ErrorName;
use crate::asl::model::*;
use crate::path::context::iso;
use crate::path::{ContextObject, Vars, to_json_text};
use crate::store::buckets::{Buckets, ObjectWriter};

/// A result file is closed and the next begun past this size (AWS: 5 GB).
const FILE_LIMIT: u64 = 5 * 1000 * 1000 * 1000;

/// One child execution of a Map Run, as it ended.
#[derive(Debug, Clone)]
pub struct ChildRecord {
    pub arn: String,
    pub name: String,
    pub state_machine_arn: String,
    pub input: Value,
    pub started: DateTime<Utc>,
    pub stopped: DateTime<Utc>,
    /// The output, or why it failed (`States.Timeout`: timed out).
    pub outcome: Result<Value, AslError>,
}

impl ChildRecord {
    fn status(&self) -> &'static str {
        match &self.outcome {
            Ok(_) => "SUCCEEDED",
            Err(e) if e.name == ErrorName::Timeout => "TIMED_OUT",
            Err(_) => "FAILED",
        }
    }

    /// The execution record (`Transformation: NONE`), as in AWS's result files.
    pub fn record(&self) -> Value {
        let status = self.status();
        let mut r = json!({
            "ExecutionArn": self.arn, "Name": self.name, "StateMachineArn": self.state_machine_arn,
            "Input": to_json_text(&self.input), "InputDetails": {"Included": true},
            "StartDate": iso(self.started), "StopDate": iso(self.stopped), "Status": status,
            "RedriveCount": 0, "RedriveStatus": "NOT_REDRIVABLE",
            "RedriveStatusReason": format!("Execution is {status} and cannot be redriven"),
        });
        match &self.outcome {
            Ok(output) => {
                r["Output"] = to_json_text(output).into();
                r["OutputDetails"] = json!({"Included": true});
            }
            Err(e) => {
                r["Error"] = e.name.as_str().into();
                if let Some(c) = &e.cause {
                    r["Cause"] = c.clone().into();
                }
            }
        }
        r
    }
}

/// Shapes one child for the Map's output (no export): `COMPACT` its output (a failed child's
/// error output), `NONE` its record; `FLATTEN` is applied when the array is complete.
pub fn shaped(t: Option<WriterTransformation>, child: &ChildRecord) -> Value {
    match (t, &child.outcome) {
        (Some(WriterTransformation::None), _) => child.record(),
        (_, Ok(output)) => output.clone(),
        (_, Err(e)) => e.output(),
    }
}

/// `FLATTEN`: the children's array outputs concatenated (other outputs kept as they are).
pub fn flatten(results: Vec<Value>) -> Vec<Value> {
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Value::Array(items) => out.extend(items),
            other => out.push(other),
        }
    }
    out
}

/// Where and how results are exported.
#[derive(Debug, Clone)]
pub struct Destination {
    bucket: String,
    prefix: String,
    output_type: OutputType,
    transformation: WriterTransformation,
}

/// The export's destination, if the writer exports (`Parameters`/`Arguments`: Bucket, Prefix).
pub fn destination(
    w: &ResultWriter,
    effective: &Value,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<Option<Destination>, Fault> {
    let args = match &w.export {
        None => return Ok(None),
        Some(Payload::Path(t)) => eval_template(t, effective, ctx, vars)?,
        Some(Payload::Ata(a)) => ata::eval(a, "ResultWriter/Arguments", &States::new(effective, ctx), vars)?,
    };
    let text = |name: &str| match args.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Ok(String::new()),
        Some(other) => Err(Fault::Runtime(format!(
            "The ResultWriter's {name} must be a string, not {other}"
        ))),
    };
    Ok(Some(Destination {
        bucket: text("Bucket")?,
        prefix: text("Prefix")?,
        output_type: w.output_type,
        transformation: w.transformation.unwrap_or(WriterTransformation::None),
    }))
}

fn failed(cause: impl Into<String>) -> AslError {
    AslError::new(ErrorName::ResultWriterFailed, cause.into())
}

/// The files of one status being written.
struct Files {
    status: &'static str,
    open: Option<(Box<dyn ObjectWriter>, String, u64, usize)>,
    done: Vec<Value>,
    next: usize,
}

impl Files {
    fn new(status: &'static str) -> Files {
        Files {
            status,
            open: None,
            done: Vec::new(),
            next: 0,
        }
    }
}

/// An export in progress.
pub struct Export {
    buckets: Arc<dyn Buckets>,
    to: Destination,
    map_run_arn: String,
    /// `PREFIX/MAP_RUN_ID/`
    base: String,
    files: [Files; 3],
}

const SUCCEEDED: usize = 0;
const FAILED: usize = 1;
const PENDING: usize = 2;

impl Export {
    pub fn new(buckets: Arc<dyn Buckets>, to: Destination, map_run_arn: &str) -> Result<Export, AslError> {
        if to.bucket.is_empty() {
            return Err(failed("The ResultWriter needs a Bucket"));
        }
        let run_id = map_run_arn.rsplit(':').next().unwrap_or(map_run_arn);
        let prefix = to.prefix.trim_end_matches('/');
        let base = if prefix.is_empty() {
            format!("{run_id}/")
        } else {
            format!("{prefix}/{run_id}/")
        };
        Ok(Export {
            buckets,
            to,
            map_run_arn: map_run_arn.to_string(),
            base,
            files: [Files::new("SUCCEEDED"), Files::new("FAILED"), Files::new("PENDING")],
        })
    }

    /// Writes one finished child.
    pub fn child(&mut self, child: &ChildRecord) -> Result<(), AslError> {
        match (&child.outcome, self.to.transformation) {
            (Err(_), _) | (Ok(_), WriterTransformation::None) => {
                let file = if child.outcome.is_ok() { SUCCEEDED } else { FAILED };
                self.write(file, &child.record())
            }
            (Ok(output), WriterTransformation::Compact) => self.write(SUCCEEDED, output),
            (Ok(Value::Array(items)), WriterTransformation::Flatten) => {
                items.iter().try_for_each(|item| self.write(SUCCEEDED, item))
            }
            (Ok(other), WriterTransformation::Flatten) => self.write(SUCCEEDED, other),
        }
    }

    /// Writes an item whose child never started (the Map stopped first).
    pub fn pending(&mut self, input: &Value) -> Result<(), AslError> {
        let r = json!({"Input": to_json_text(input), "InputDetails": {"Included": true}, "Status": "PENDING"});
        self.write(PENDING, &r)
    }

    fn write(&mut self, which: usize, value: &Value) -> Result<(), AslError> {
        let ext = match self.to.output_type {
            OutputType::Json => "json",
            OutputType::Jsonl => "jsonl",
        };
        let jsonl = self.to.output_type == OutputType::Jsonl;
        let f = &mut self.files[which];
        if f.open.as_ref().is_some_and(|(_, _, size, _)| *size >= FILE_LIMIT) {
            close(f, jsonl)?;
        }
        if f.open.is_none() {
            let key = format!("{}{}_{}.{ext}", self.base, f.status, f.next);
            f.next += 1;
            let w = self
                .buckets
                .create(&self.to.bucket, &key)
                .map_err(|e| failed(e.to_string()))?;
            f.open = Some((w, key, 0, 0));
        }
        let Some((w, key, size, count)) = f.open.as_mut() else {
            return Ok(());
        };
        let text = value.to_string();
        let sep: &[u8] = match (jsonl, *count) {
            (true, _) => b"",
            (false, 0) => b"[",
            (false, _) => b",",
        };
        w.write_all(sep)
            .and_then(|()| w.write_all(text.as_bytes()))
            .and_then(|()| if jsonl { w.write_all(b"\n") } else { Ok(()) })
            .map_err(|e| failed(format!("cannot write s3://{}/{key}: {e}", self.to.bucket)))?;
        *size += (sep.len() + text.len() + usize::from(jsonl)) as u64;
        *count += 1;
        Ok(())
    }

    /// Closes the files, writes `manifest.json`, and returns the Map's output.
    pub fn finish(mut self) -> Result<Value, AslError> {
        let jsonl = self.to.output_type == OutputType::Jsonl;
        for f in &mut self.files {
            close(f, jsonl)?;
        }
        let [s, fl, p] = &self.files;
        let manifest = json!({
            "DestinationBucket": self.to.bucket,
            "MapRunArn": self.map_run_arn,
            "ResultFiles": {"FAILED": fl.done, "PENDING": p.done, "SUCCEEDED": s.done},
        });
        let key = format!("{}manifest.json", self.base);
        let mut w = self
            .buckets
            .create(&self.to.bucket, &key)
            .map_err(|e| failed(e.to_string()))?;
        w.write_all(manifest.to_string().as_bytes())
            .map_err(|e| failed(format!("cannot write s3://{}/{key}: {e}", self.to.bucket)))?;
        w.commit().map_err(|e| failed(e.to_string()))?;
        Ok(json!({
            "MapRunArn": self.map_run_arn,
            "ResultWriterDetails": {"Bucket": self.to.bucket, "Key": key},
        }))
    }
}

fn close(f: &mut Files, jsonl: bool) -> Result<(), AslError> {
    let Some((mut w, key, _, count)) = f.open.take() else {
        return Ok(());
    };
    if !jsonl {
        let end: &[u8] = if count == 0 { b"[]" } else { b"]" };
        w.write_all(end)
            .map_err(|e| failed(format!("cannot write {key}: {e}")))?;
    }
    let size = w.commit().map_err(|e| failed(e.to_string()))?;
    f.done.push(json!({"Key": key, "Size": size}));
    Ok(())
}
