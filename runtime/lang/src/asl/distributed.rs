//! A Map's item source and result export: the fields of `ItemReader` (with `ReaderConfig`) and
//! `ResultWriter` (with `WriterConfig`), checked as AWS checks them and built into the model.
//! Reading items from and writing results to a bucket is the engine's business; here only
//! their shape is.

use serde_json::{Map, Value};

use super::ata::Allowed;
use super::build::Builder;
use super::model::*;

const READER_INPUT_TYPES: [&str; 5] = ["CSV", "JSON", "JSONL", "PARQUET", "MANIFEST"];
const WRITER_OUTPUT_TYPES: [&str; 2] = ["JSON", "JSONL"];
const WRITER_TRANSFORMATIONS: [&str; 3] = ["NONE", "COMPACT", "FLATTEN"];
const DELIMITERS: [(&str, u8); 5] = [
    ("COMMA", b','),
    ("PIPE", b'|'),
    ("SEMICOLON", b';'),
    ("SPACE", b' '),
    ("TAB", b'\t'),
];

impl Builder<'_> {
    /// `ItemReader`: `Resource`, `Parameters` (JSONPath) or `Arguments` (JSONata), `ReaderConfig`.
    pub(super) fn item_reader(&mut self, r: &Map<String, Value>, at: &str, jp: bool) -> ItemReader {
        let args = if jp { "Parameters" } else { "Arguments" };
        self.check_fields(r, at, &["Resource", args, "ReaderConfig"], "in an ItemReader");
        self.resource_string(r, at);
        let resource = r
            .get("Resource")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let source = match resource.rsplit(':').next() {
            Some("getObject") if resource.starts_with("arn:") => ReaderSource::GetObject,
            Some("listObjectsV2") if resource.starts_with("arn:") => ReaderSource::ListObjectsV2,
            _ => ReaderSource::Unsupported,
        };
        let arguments = if jp {
            self.template(r, at, "Parameters").map(Payload::Path)
        } else {
            self.ata(r, at, "Arguments", Allowed::INPUT_ONLY).map(Payload::Ata)
        };
        let config = self.reader_config(r, at, jp);
        ItemReader {
            resource,
            source,
            arguments,
            config,
        }
    }

    fn reader_config(&mut self, r: &Map<String, Value>, at: &str, jp: bool) -> ReaderConfig {
        let mut config = ReaderConfig::default();
        let Some(c) = r.get("ReaderConfig") else {
            return config;
        };
        let cp = format!("{at}/ReaderConfig");
        let Some(c) = c.as_object() else {
            self.schema(&cp, "ReaderConfig must be an object");
            return config;
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
        if let Some(t) = c.get("InputType") {
            config.input_type = match t.as_str() {
                Some("CSV") => Some(InputType::Csv),
                Some("JSON") => Some(InputType::Json),
                Some("JSONL") => Some(InputType::Jsonl),
                Some("PARQUET") => Some(InputType::Parquet),
                Some("MANIFEST") => Some(InputType::Manifest),
                _ => {
                    self.schema(
                        &format!("{cp}/InputType"),
                        format!("InputType must be one of {}", READER_INPUT_TYPES.join(", ")),
                    );
                    None
                }
            };
        }
        let location = c.get("CSVHeaderLocation");
        match location.map(|l| l.as_str()) {
            None | Some(Some("FIRST_ROW")) => {}
            Some(Some("GIVEN")) => match c.get("CSVHeaders").and_then(Value::as_array) {
                Some(h) if !h.is_empty() && h.iter().all(Value::is_string) => {
                    config.csv_headers = Some(h.iter().filter_map(Value::as_str).map(str::to_string).collect());
                }
                _ => self.schema(
                    &cp,
                    "CSVHeaderLocation GIVEN needs CSVHeaders, a non-empty array of strings",
                ),
            },
            Some(_) => self.schema(
                &format!("{cp}/CSVHeaderLocation"),
                "CSVHeaderLocation must be FIRST_ROW or GIVEN",
            ),
        }
        if c.contains_key("CSVHeaders") && location.and_then(Value::as_str) != Some("GIVEN") {
            self.schema(&format!("{cp}/CSVHeaders"), "CSVHeaders needs CSVHeaderLocation GIVEN");
        }
        if let Some(d) = c.get("CSVDelimiter") {
            match DELIMITERS.iter().find(|(n, _)| d.as_str() == Some(n)) {
                Some((_, b)) => config.csv_delimiter = Some(*b),
                None => self.schema(
                    &format!("{cp}/CSVDelimiter"),
                    format!("CSVDelimiter must be one of {}", DELIMITERS.map(|(n, _)| n).join(", ")),
                ),
            }
        }
        if let Some(m) = c.get("ManifestType") {
            config.manifest_type = match m.as_str() {
                Some("ATHENA_DATA") => Some(ManifestType::AthenaData),
                Some("S3_INVENTORY") => Some(ManifestType::S3Inventory),
                _ => {
                    self.schema(
                        &format!("{cp}/ManifestType"),
                        "ManifestType must be ATHENA_DATA or S3_INVENTORY",
                    );
                    None
                }
            };
        }
        match c.get("Transformation").map(|t| t.as_str()) {
            None | Some(Some("NONE")) => {}
            Some(Some("LOAD_AND_FLATTEN")) => config.load_and_flatten = true,
            Some(_) => self.schema(
                &format!("{cp}/Transformation"),
                "Transformation must be NONE or LOAD_AND_FLATTEN",
            ),
        }
        if let Some(p) = c.get("ItemsPointer") {
            match p.as_str() {
                Some(p) if p.is_empty() || p.starts_with('/') => config.items_pointer = Some(p.to_string()),
                _ => self.schema(
                    &format!("{cp}/ItemsPointer"),
                    "ItemsPointer must be a JSON Pointer such as /inventory/products",
                ),
            }
        }
        config.max_items = if jp {
            match self.reference(c, &cp, "MaxItemsPath") {
                Some(p) => Some(Count::Path(p)),
                None => match c.get("MaxItems") {
                    None => None,
                    Some(m) => match m.as_u64().filter(|n| *n >= 1) {
                        Some(n) => Some(Count::Fixed(n)),
                        None => {
                            self.schema(&format!("{cp}/MaxItems"), "MaxItems must be a positive integer");
                            None
                        }
                    },
                },
            }
        } else {
            self.ata_count(c, &cp, "MaxItems", |v| v.as_u64().filter(|n| *n >= 1))
        };
        config
    }

    /// `ResultWriter`: `WriterConfig` alone, `Resource` with `Parameters`/`Arguments`, or all.
    pub(super) fn result_writer(&mut self, w: &Map<String, Value>, at: &str, jp: bool) -> ResultWriter {
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
        let export = if jp {
            self.template(w, at, "Parameters").map(Payload::Path)
        } else {
            self.ata(w, at, "Arguments", Allowed::INPUT_ONLY).map(Payload::Ata)
        };
        let mut writer = ResultWriter {
            export,
            output_type: OutputType::Json,
            transformation: None,
        };
        let Some(c) = w.get("WriterConfig") else {
            return writer;
        };
        let cp = format!("{at}/WriterConfig");
        let Some(c) = c.as_object() else {
            self.schema(&cp, "WriterConfig must be an object");
            return writer;
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
            Some(t) => {
                if t == "JSONL" {
                    writer.output_type = OutputType::Jsonl;
                }
            }
        }
        if let Some(t) = c.get("Transformation") {
            writer.transformation = match t.as_str() {
                Some("NONE") => Some(WriterTransformation::None),
                Some("COMPACT") => Some(WriterTransformation::Compact),
                Some("FLATTEN") => Some(WriterTransformation::Flatten),
                _ => {
                    self.schema(
                        &format!("{cp}/Transformation"),
                        format!("Transformation must be one of {}", WRITER_TRANSFORMATIONS.join(", ")),
                    );
                    None
                }
            };
        }
        writer
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
