//! A Map's item source and result export: the fields of `ItemReader` (with `ReaderConfig`) and
//! `ResultWriter` (with `WriterConfig`), checked as AWS checks them. Reading items from and
//! writing results to a store is the engine's business; here only their shape is.

use serde_json::{Map, Value};

use super::ata::Allowed;
use super::build::Builder;

const READER_INPUT_TYPES: [&str; 5] = ["CSV", "JSON", "JSONL", "PARQUET", "MANIFEST"];
const WRITER_OUTPUT_TYPES: [&str; 2] = ["JSON", "JSONL"];
const WRITER_TRANSFORMATIONS: [&str; 3] = ["NONE", "COMPACT", "FLATTEN"];

impl Builder<'_> {
    /// `ItemReader`: `Resource`, `Parameters` (JSONPath) or `Arguments` (JSONata), `ReaderConfig`.
    pub(super) fn item_reader(&mut self, r: &Map<String, Value>, at: &str, jp: bool) {
        let args = if jp { "Parameters" } else { "Arguments" };
        self.check_fields(r, at, &["Resource", args, "ReaderConfig"], "in an ItemReader");
        self.resource_string(r, at);
        if !jp {
            self.ata(r, at, "Arguments", Allowed::INPUT_ONLY);
        }
        let Some(c) = r.get("ReaderConfig") else { return };
        let cp = format!("{at}/ReaderConfig");
        let Some(c) = c.as_object() else {
            self.schema(&cp, "ReaderConfig must be an object");
            return;
        };
        let mut allowed = vec![
            "InputType",
            "CSVHeaderLocation",
            "CSVHeaders",
            "CSVDelimiter",
            "MaxItems",
            "ManifestType",
            "Transformation",
            "ItemsPointer",
        ];
        if jp {
            allowed.push("MaxItemsPath");
        }
        self.check_fields(c, &cp, &allowed, "in a ReaderConfig");
        self.exclusive(c, &cp, "MaxItems", "MaxItemsPath");
        if let Some(t) = c.get("InputType")
            && !t.as_str().is_some_and(|t| READER_INPUT_TYPES.contains(&t))
        {
            self.schema(
                &format!("{cp}/InputType"),
                format!("InputType must be one of {}", READER_INPUT_TYPES.join(", ")),
            );
        }
        if jp {
            self.reference(c, &cp, "MaxItemsPath");
            if let Some(m) = c.get("MaxItems")
                && m.as_u64().is_none_or(|n| n < 1)
            {
                self.schema(&format!("{cp}/MaxItems"), "MaxItems must be a positive integer");
            }
        } else {
            self.ata_count(c, &cp, "MaxItems", |v| v.as_u64().filter(|n| *n >= 1));
        }
    }

    /// `ResultWriter`: `WriterConfig` alone, `Resource` with `Parameters`/`Arguments`, or all.
    pub(super) fn result_writer(&mut self, w: &Map<String, Value>, at: &str, jp: bool) {
        let args = if jp { "Parameters" } else { "Arguments" };
        self.check_fields(w, at, &["Resource", args, "WriterConfig"], "in a ResultWriter");
        let export = w.contains_key("Resource") || w.contains_key(args);
        if export && !(w.contains_key("Resource") && w.contains_key(args)) {
            self.schema(
                at,
                format!("A ResultWriter that exports results needs both Resource and {args}"),
            );
        }
        if !export && !w.contains_key("WriterConfig") {
            self.schema(
                at,
                format!("A ResultWriter needs WriterConfig, or Resource with {args}, or all three"),
            );
        }
        if w.contains_key("Resource") {
            self.resource_string(w, at);
        }
        if !jp {
            self.ata(w, at, "Arguments", Allowed::INPUT_ONLY);
        }
        let Some(c) = w.get("WriterConfig") else { return };
        let cp = format!("{at}/WriterConfig");
        let Some(c) = c.as_object() else {
            self.schema(&cp, "WriterConfig must be an object");
            return;
        };
        self.check_fields(c, &cp, &["OutputType", "Transformation"], "in a WriterConfig");
        match c.get("OutputType") {
            None => self.schema(
                &cp,
                format!("WriterConfig needs OutputType ({})", WRITER_OUTPUT_TYPES.join(" or ")),
            ),
            Some(t) if !t.as_str().is_some_and(|t| WRITER_OUTPUT_TYPES.contains(&t)) => self.schema(
                &format!("{cp}/OutputType"),
                format!("OutputType must be {}", WRITER_OUTPUT_TYPES.join(" or ")),
            ),
            Some(_) => {}
        }
        if let Some(t) = c.get("Transformation")
            && !t.as_str().is_some_and(|t| WRITER_TRANSFORMATIONS.contains(&t))
        {
            self.schema(
                &format!("{cp}/Transformation"),
                format!("Transformation must be one of {}", WRITER_TRANSFORMATIONS.join(", ")),
            );
        }
    }

    /// A reader's or writer's `Resource`: a string naming an S3 integration.
    fn resource_string(&mut self, obj: &Map<String, Value>, at: &str) {
        match obj.get("Resource") {
            Some(Value::String(s)) if s.starts_with("arn:") => {}
            Some(_) => self.schema(
                &format!("{at}/Resource"),
                "Resource must be an ARN string such as arn:aws:states:::s3:getObject",
            ),
            None => self.schema(at, "The required field 'Resource' is missing"),
        }
    }
}
