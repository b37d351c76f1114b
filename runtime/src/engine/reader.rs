//! A Distributed Map's `ItemReader`: its arguments evaluated into a plan (which bucket, which
//! object or prefix, how many items at most), then the dataset read on a blocking thread —
//! once to count the items, once more to hand them, one by one through a bounded channel, to
//! the Map as it starts children. A million rows never sit in memory at once.

use std::sync::Arc;

use futures::Stream;
use serde_json::{Value, json};

use super::ata::{self, States};
use super::error::AslError;
use super::formats::{self, Ended, ReadError, Sink};
use super::items;
use super::step::{Fault, eval_template};
use crate::asl::ErrorName;
use crate::asl::model::*;
use crate::path::{ContextObject, Vars};
use crate::store::buckets::Buckets;

/// Items in flight between the reading thread and the Map.
const CHANNEL: usize = 256;

/// One reading of a dataset: everything it needs, owned (it runs on another thread).
#[derive(Debug, Clone)]
pub struct Plan {
    resource: String,
    source: ReaderSource,
    bucket: String,
    /// The object (`getObject`) or the prefix (`listObjectsV2`).
    key: String,
    input_type: Option<InputType>,
    csv_headers: Option<Vec<String>>,
    delimiter: u8,
    manifest_type: Option<ManifestType>,
    load_and_flatten: bool,
    items_pointer: Option<String>,
    max_items: Option<u64>,
}

fn failed(cause: impl Into<String>) -> AslError {
    AslError::new(ErrorName::ItemReaderFailed, cause.into())
}

/// Evaluates the reader's arguments and `MaxItems` against the Map's effective input.
pub fn plan(r: &ItemReader, effective: &Value, ctx: &ContextObject<'_>, vars: &Vars) -> Result<Plan, Fault> {
    let args = match &r.arguments {
        None => Value::Null,
        Some(Payload::Path(t)) => eval_template(t, effective, ctx, vars)?,
        Some(Payload::Ata(a)) => ata::eval(a, "ItemReader/Arguments", &States::new(effective, ctx), vars)?,
    };
    let field = |name: &str| -> Result<String, Fault> {
        match args.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            None | Some(Value::Null) => Ok(String::new()),
            Some(other) => Err(Fault::Runtime(format!(
                "The ItemReader's {name} must be a string, not {other}"
            ))),
        }
    };
    let bucket = field("Bucket")?;
    let key = match r.source {
        ReaderSource::ListObjectsV2 => field("Prefix")?,
        _ => field("Key")?,
    };
    let max_items = items::map_count(&r.config.max_items, "MaxItems", effective, ctx, vars)?.filter(|n| *n > 0);
    Ok(Plan {
        resource: r.resource.clone(),
        source: r.source,
        bucket,
        key,
        input_type: r.config.input_type,
        csv_headers: r.config.csv_headers.clone(),
        delimiter: r.config.csv_delimiter.unwrap_or(b','),
        manifest_type: r.config.manifest_type,
        load_and_flatten: r.config.load_and_flatten,
        items_pointer: r.config.items_pointer.clone(),
        max_items,
    })
}

impl Plan {
    fn object_name(&self, bucket: &str, key: &str) -> String {
        format!("s3://{bucket}/{key}")
    }

    /// Reads the dataset into `sink` (at most `max_items`).
    pub fn read(&self, buckets: &dyn Buckets, sink: &mut Sink<'_>) -> Result<(), ReadError> {
        if self.bucket.is_empty() {
            return Err(ReadError(format!("{} needs a Bucket", self.resource)));
        }
        let mut left = self.max_items.unwrap_or(u64::MAX);
        let mut limited = |item: Value| {
            if left == 0 {
                return false;
            }
            left -= 1;
            sink(item) && left > 0
        };
        match self.source {
            ReaderSource::GetObject => {
                if self.key.is_empty() {
                    return Err(ReadError(format!("{} needs a Key", self.resource)));
                }
                self.object(buckets, &self.bucket, &self.key, &mut limited).map(|_| ())
            }
            ReaderSource::ListObjectsV2 => {
                let objects = buckets
                    .list(&self.bucket, &self.key)
                    .map_err(|e| ReadError(e.to_string()))?;
                for o in objects {
                    let go_on = if self.load_and_flatten {
                        self.object(buckets, &self.bucket, &o.key, &mut limited)? == Ended::Done
                    } else {
                        limited(json!({
                            "Etag": o.etag, "Key": o.key, "LastModified": o.modified,
                            "Size": o.size, "StorageClass": "STANDARD",
                        }))
                    };
                    if !go_on {
                        break;
                    }
                }
                Ok(())
            }
            ReaderSource::Unsupported => Err(ReadError(format!(
                "'{}' is not an item source wasmstep reads; use arn:aws:states:::s3:getObject or arn:aws:states:::s3:listObjectsV2",
                self.resource
            ))),
        }
    }

    /// One object's items, by the reader's InputType (JSON when none is given).
    fn object(&self, buckets: &dyn Buckets, bucket: &str, key: &str, sink: &mut Sink<'_>) -> Result<Ended, ReadError> {
        let what = self.object_name(bucket, key);
        let open = |bucket: &str, key: &str| -> Result<Box<dyn std::io::Read + Send>, ReadError> {
            let r = buckets.open(bucket, key).map_err(|e| ReadError(e.to_string()))?;
            // Gzipped objects (S3 Inventory files, Athena output) are read through gunzip.
            Ok(if key.ends_with(".gz") {
                Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(r)))
            } else {
                r
            })
        };
        let headers = self.csv_headers.as_deref();
        match self.input_type.unwrap_or(InputType::Json) {
            InputType::Csv => formats::csv(open(bucket, key)?, headers, self.delimiter, &what, sink),
            InputType::Json => formats::json(open(bucket, key)?, self.items_pointer.as_deref(), &what, sink),
            InputType::Jsonl => formats::jsonl(open(bucket, key)?, &what, sink),
            InputType::Parquet => Err(ReadError(format!(
                "{what}: wasmstep does not read PARQUET datasets; write them as CSV or JSONL"
            ))),
            InputType::Manifest => match self.manifest_type {
                Some(ManifestType::AthenaData) => {
                    for (b, k) in formats::athena(open(bucket, key)?, &what)? {
                        let data = self.object_name(&b, &k);
                        let ended = if k.ends_with(".jsonl") || k.ends_with(".jsonl.gz") {
                            formats::jsonl(open(&b, &k)?, &data, sink)?
                        } else {
                            formats::csv(open(&b, &k)?, headers, self.delimiter, &data, sink)?
                        };
                        if ended == Ended::Stopped {
                            return Ok(Ended::Stopped);
                        }
                    }
                    Ok(Ended::Done)
                }
                // S3 Inventory is the default manifest.
                _ => {
                    let inv = formats::inventory(open(bucket, key)?, &what)?;
                    let in_bucket = inv.bucket.clone().unwrap_or_else(|| bucket.to_string());
                    for f in &inv.files {
                        let data = self.object_name(&in_bucket, f);
                        let ended = formats::csv(open(&in_bucket, f)?, Some(&inv.columns), b',', &data, sink)?;
                        if ended == Ended::Stopped {
                            return Ok(Ended::Stopped);
                        }
                    }
                    Ok(Ended::Done)
                }
            },
        }
    }
}

/// Counts the dataset's items (reading it through once, on a blocking thread).
pub async fn count(plan: Arc<Plan>, buckets: Arc<dyn Buckets>) -> Result<u64, AslError> {
    tokio::task::spawn_blocking(move || {
        let mut n = 0u64;
        plan.read(&*buckets, &mut |_| {
            n += 1;
            true
        })
        .map(|()| n)
    })
    .await
    .map_err(|e| failed(format!("the item reader stopped: {e}")))?
    .map_err(|e| failed(e.0))
}

/// The dataset's items, read on a blocking thread as the Map takes them. Dropping the stream
/// stops the reading.
pub fn stream(
    plan: Arc<Plan>,
    buckets: Arc<dyn Buckets>,
) -> impl Stream<Item = Result<Value, AslError>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Value, AslError>>(CHANNEL);
    tokio::task::spawn_blocking(move || {
        let read = plan.read(&*buckets, &mut |item| tx.blocking_send(Ok(item)).is_ok());
        if let Err(e) = read {
            let _ = tx.blocking_send(Err(failed(e.0)));
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}
