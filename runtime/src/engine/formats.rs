//! Datasets as items, read as streams so that memory stays flat however long the file: CSV
//! (a header row or given headers, any of AWS's delimiters; each row an object of strings),
//! a JSON array (element by element; or the array an `ItemsPointer` names), JSON Lines, and
//! the two manifests (S3 Inventory: gzipped CSV files named by `manifest.json`; Athena: a
//! list of `s3://` data files). Each item goes to a sink, which may stop the reading.

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Takes each item; `false` stops the reading (enough items, or nobody wants more).
pub type Sink<'a> = dyn FnMut(Value) -> bool + 'a;

/// Why a dataset could not be read: the cause of `States.ItemReaderFailed`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadError(pub String);

/// How reading ended when nothing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every item was given.
    Done,
    /// The sink stopped it.
    Stopped,
}

/// AWS's cap on a CSV header row.
const MAX_HEADER_BYTES: usize = 10 * 1024;

/// A CSV file: each row an object of its fields (strings) under the headers.
pub fn csv(
    r: impl Read,
    headers: Option<&[String]>,
    delimiter: u8,
    what: &str,
    sink: &mut Sink<'_>,
) -> Result<Ended, ReadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(r);
    let mut records = reader.records();
    let bad = |row: u64, e: csv::Error| ReadError(format!("{what}: row {row} is not valid CSV: {e}"));
    let headers: Vec<String> = match headers {
        Some(h) => h.to_vec(),
        None => match records.next() {
            None => return Ok(Ended::Done),
            Some(first) => {
                let first = first.map_err(|e| bad(1, e))?;
                if first.as_slice().len() > MAX_HEADER_BYTES {
                    return Err(ReadError(format!(
                        "{what}: the header row is over {MAX_HEADER_BYTES} bytes"
                    )));
                }
                first.iter().map(str::to_string).collect()
            }
        },
    };
    let offset = if headers.is_empty() { 0 } else { 1 };
    for (i, row) in records.enumerate() {
        let n = i as u64 + 1 + offset;
        let row = row.map_err(|e| bad(n, e))?;
        if row.len() != headers.len() {
            return Err(ReadError(format!(
                "{what}: row {n} has {} fields where the header has {}",
                row.len(),
                headers.len()
            )));
        }
        let item: Map<String, Value> = headers
            .iter()
            .zip(row.iter())
            .map(|(h, f)| (h.clone(), Value::String(f.to_string())))
            .collect();
        if !sink(Value::Object(item)) {
            return Ok(Ended::Stopped);
        }
    }
    Ok(Ended::Done)
}

/// JSON Lines: each non-blank line one item.
pub fn jsonl(r: impl Read, what: &str, sink: &mut Sink<'_>) -> Result<Ended, ReadError> {
    let mut lines = BufReader::new(r);
    let mut line = String::new();
    let mut n = 0u64;
    loop {
        line.clear();
        n += 1;
        let read = lines
            .read_line(&mut line)
            .map_err(|e| ReadError(format!("{what}: line {n}: {e}")))?;
        if read == 0 {
            return Ok(Ended::Done);
        }
        if line.trim().is_empty() {
            continue;
        }
        let item: Value =
            serde_json::from_str(&line).map_err(|e| ReadError(format!("{what}: line {n} is not JSON: {e}")))?;
        if !sink(item) {
            return Ok(Ended::Stopped);
        }
    }
}

/// A JSON file: its top-level array, element by element; with `pointer`, the array it names
/// (the file is then read whole).
pub fn json(r: impl Read, pointer: Option<&str>, what: &str, sink: &mut Sink<'_>) -> Result<Ended, ReadError> {
    let reader = BufReader::new(r);
    if let Some(p) = pointer {
        let whole: Value =
            serde_json::from_reader(reader).map_err(|e| ReadError(format!("{what} is not JSON: {e}")))?;
        let Some(Value::Array(items)) = whole.pointer(p) else {
            return Err(ReadError(format!("{what}: ItemsPointer '{p}' does not name an array")));
        };
        for item in items {
            if !sink(item.clone()) {
                return Ok(Ended::Stopped);
            }
        }
        return Ok(Ended::Done);
    }
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut elements = Elements { sink, stopped: false };
    match (&mut elements).deserialize(&mut de) {
        // Stopping leaves the rest of the array unread, which serde reports; that is fine.
        _ if elements.stopped => Ok(Ended::Stopped),
        Ok(()) => de
            .end()
            .map(|()| Ended::Done)
            .map_err(|e| ReadError(format!("{what}: {e}"))),
        Err(e) => Err(ReadError(format!(
            "{what} is not a JSON array (ItemsPointer names an array inside an object): {e}"
        ))),
    }
}

/// Hands a JSON array's elements to the sink as they are parsed (never the whole array).
struct Elements<'s, 'a> {
    sink: &'s mut Sink<'a>,
    stopped: bool,
}

impl<'de> DeserializeSeed<'de> for &mut Elements<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for &mut Elements<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Value>()? {
            if !(self.sink)(item) {
                self.stopped = true;
                return Ok(());
            }
        }
        Ok(())
    }
}

/// An S3 Inventory `manifest.json`: the bucket its files are in, their keys, and the names
/// of their columns.
pub struct Inventory {
    pub bucket: Option<String>,
    pub files: Vec<String>,
    pub columns: Vec<String>,
}

pub fn inventory(r: impl Read, what: &str) -> Result<Inventory, ReadError> {
    let m: Value = serde_json::from_reader(BufReader::new(r))
        .map_err(|e| ReadError(format!("{what} is not an S3 Inventory manifest (JSON): {e}")))?;
    let format = m["fileFormat"].as_str().unwrap_or_default();
    if format != "CSV" {
        return Err(ReadError(format!(
            "{what}: the inventory's fileFormat is '{format}'; wasmstep reads CSV inventories"
        )));
    }
    let columns: Vec<String> = m["fileSchema"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if columns.is_empty() {
        return Err(ReadError(format!("{what}: the manifest has no fileSchema")));
    }
    let files = m["files"]
        .as_array()
        .ok_or_else(|| ReadError(format!("{what}: the manifest has no files")))?
        .iter()
        .map(|f| f["key"].as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ReadError(format!("{what}: a file of the manifest has no key")))?;
    // `destinationBucket` is an ARN (`arn:aws:s3:::NAME`).
    let bucket = m["destinationBucket"]
        .as_str()
        .map(|b| b.rsplit(':').next().unwrap_or(b).to_string());
    Ok(Inventory { bucket, files, columns })
}

/// An Athena manifest: one `s3://BUCKET/KEY` data file per line.
pub fn athena(r: impl Read, what: &str) -> Result<Vec<(String, String)>, ReadError> {
    let mut files = Vec::new();
    for (i, line) in BufReader::new(r).lines().enumerate() {
        let line = line.map_err(|e| ReadError(format!("{what}: {e}")))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((bucket, key)) = line.strip_prefix("s3://").and_then(|l| l.split_once('/')) else {
            return Err(ReadError(format!(
                "{what}: line {} is not an s3://BUCKET/KEY location: {line}",
                i + 1
            )));
        };
        files.push((bucket.to_string(), key.to_string()));
    }
    Ok(files)
}
