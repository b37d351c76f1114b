//! Builds Map states: item source, item selector, processor scope, concurrency and tolerance.

use serde_json::{Map, Value};

use super::ata::Allowed;
use super::build::{Builder, MachineType};
use super::model::*;

const MAX_LABEL: usize = 40;

impl Builder<'_> {
    pub(super) fn map(&mut self, id: StateId, obj: &Map<String, Value>, at: &str, jp: bool) -> MapState {
        let (processor_field, processor) = match (obj.get("ItemProcessor"), obj.get("Iterator")) {
            (Some(_), Some(_)) => {
                self.schema(at, "'ItemProcessor' and the deprecated 'Iterator' cannot both be given");
                ("ItemProcessor", obj.get("ItemProcessor"))
            }
            (Some(p), None) => ("ItemProcessor", Some(p)),
            (None, Some(p)) => ("Iterator", Some(p)),
            (None, None) => {
                self.schema(at, "A Map state needs 'ItemProcessor'");
                ("ItemProcessor", None)
            }
        };
        let pp = format!("{at}/{processor_field}");
        let mut mode = MapMode::Inline;
        let mut express_children = false;
        let mut scope = None;
        if let Some(p) = processor {
            match p.as_object() {
                Some(p) => {
                    self.check_fields(
                        p,
                        &pp,
                        &["StartAt", "States", "Comment", "ProcessorConfig"],
                        "in an ItemProcessor",
                    );
                    mode = self.processor_config(p, &pp);
                    express_children = p
                        .get("ProcessorConfig")
                        .and_then(|c| c.get("ExecutionType"))
                        .is_some_and(|t| t == "EXPRESS");
                    scope = self.nested_scope(p, &pp);
                }
                None => self.schema(
                    &pp,
                    format!("{processor_field} must be an object with StartAt and States"),
                ),
            }
        }
        if mode == MapMode::Distributed && self.machine_type == MachineType::Express {
            self.schema(&pp, "Express state machine does not support a Distributed Map");
        }
        for (a, b) in [
            ("MaxConcurrency", "MaxConcurrencyPath"),
            ("ToleratedFailureCount", "ToleratedFailureCountPath"),
            ("ToleratedFailurePercentage", "ToleratedFailurePercentagePath"),
            ("ItemSelector", "Parameters"),
        ] {
            self.exclusive(obj, at, a, b);
        }
        for field in ["ItemReader", "ItemBatcher", "ResultWriter"] {
            if let Some(v) = obj.get(field)
                && !v.is_object()
            {
                self.schema(&format!("{at}/{field}"), format!("{field} must be an object"));
            }
        }
        let item_reader = match obj.get("ItemReader") {
            Some(Value::Object(r)) => Some(self.item_reader(r, &format!("{at}/ItemReader"), jp)),
            _ => None,
        };
        let result_writer = match obj.get("ResultWriter") {
            Some(Value::Object(w)) => Some(self.result_writer(w, &format!("{at}/ResultWriter"), jp)),
            _ => None,
        };
        for field in ["ItemReader", "ResultWriter"] {
            if obj.contains_key(field) && mode != MapMode::Distributed {
                self.schema(
                    &format!("{at}/{field}"),
                    format!("{field} is only allowed in a Distributed Map (ProcessorConfig.Mode DISTRIBUTED)"),
                );
            }
        }
        let item_batcher = obj
            .get("ItemBatcher")
            .and_then(Value::as_object)
            .map(|b| self.item_batcher(b, &format!("{at}/ItemBatcher"), mode, jp));
        let label = match obj.get("Label") {
            None => None,
            Some(Value::String(l))
                if !l.is_empty()
                    && l.chars().count() <= MAX_LABEL
                    && !l
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control() || "?*<>{}[]\"#%\\^|~`$&,;:/".contains(c)) =>
            {
                Some(l.clone())
            }
            Some(_) => {
                self.schema(
                    &format!("{at}/Label"),
                    format!("Label must be 1 to {MAX_LABEL} characters without whitespace, control characters or ?*<>{{}}[]\"#%\\^|~`$&,;:/"),
                );
                None
            }
        };
        let mut io = if jp {
            self.map_io(obj, at)
        } else {
            self.ata_io(obj, at, true)
        };
        let item_selector = if jp {
            // The deprecated Parameters is the per-item selector in a Map state.
            io.parameters
                .take()
                .or_else(|| self.item_selector(obj, at))
                .map(Payload::Path)
        } else {
            self.ata(obj, at, "ItemSelector", Allowed::INPUT_ONLY).map(Payload::Ata)
        };
        let items = if jp {
            None
        } else {
            self.ata(obj, at, "Items", Allowed::INPUT_ONLY)
        };
        MapState {
            io,
            processor: scope.unwrap_or(Scope { start: id }),
            mode,
            express_children,
            items_path: if jp { self.reference(obj, at, "ItemsPath") } else { None },
            item_selector,
            items,
            max_concurrency: if jp {
                self.count(obj, at, "MaxConcurrency", "MaxConcurrencyPath", |v| v.as_u64())
            } else {
                self.ata_count(obj, at, "MaxConcurrency", |v| v.as_u64())
            },
            tolerated_failure_count: if jp {
                self.count(obj, at, "ToleratedFailureCount", "ToleratedFailureCountPath", |v| {
                    v.as_u64()
                })
            } else {
                self.ata_count(obj, at, "ToleratedFailureCount", |v| v.as_u64())
            },
            tolerated_failure_percentage: if jp {
                self.count(
                    obj,
                    at,
                    "ToleratedFailurePercentage",
                    "ToleratedFailurePercentagePath",
                    |v| v.as_f64().filter(|x| (0.0..=100.0).contains(x)),
                )
            } else {
                self.ata_count(obj, at, "ToleratedFailurePercentage", |v| {
                    v.as_f64().filter(|x| (0.0..=100.0).contains(x))
                })
            },
            label,
            item_batcher,
            item_reader,
            result_writer,
            retry: self.retriers(obj, at),
            catch: self.catchers(id, obj, at, jp),
            next: self.transition(id, obj, at).unwrap_or(Transition::End),
        }
    }

    fn map_io(&mut self, obj: &Map<String, Value>, at: &str) -> Io {
        Io {
            language: QueryLanguage::JsonPath,
            arguments: None,
            output: None,
            input_path: self.select(obj, at, "InputPath"),
            parameters: self.template(obj, at, "Parameters"),
            result_selector: self.template(obj, at, "ResultSelector"),
            result_path: self.result_path(obj, at, "ResultPath"),
            output_path: self.select(obj, at, "OutputPath"),
            assign: self.assign(obj, at),
        }
    }

    fn item_selector(&mut self, obj: &Map<String, Value>, at: &str) -> Option<crate::path::template::Template> {
        self.template(obj, at, "ItemSelector")
    }

    fn item_batcher(&mut self, b: &Map<String, Value>, at: &str, mode: MapMode, jp: bool) -> ItemBatcher {
        self.check_fields(
            b,
            at,
            &[
                "MaxItemsPerBatch",
                "MaxItemsPerBatchPath",
                "MaxInputBytesPerBatch",
                "MaxInputBytesPerBatchPath",
                "BatchInput",
            ],
            "in ItemBatcher",
        );
        if mode != MapMode::Distributed {
            self.schema(
                at,
                "ItemBatcher is only allowed in a Distributed Map (ProcessorConfig.Mode DISTRIBUTED)",
            );
        }
        for (a, p) in [
            ("MaxItemsPerBatch", "MaxItemsPerBatchPath"),
            ("MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath"),
        ] {
            self.exclusive(b, at, a, p);
        }
        let positive = |v: &Value| v.as_u64().filter(|n| *n > 0);
        let within_limit = |v: &Value| v.as_u64().filter(|n| *n > 0 && *n <= 256 * 1024);
        let (max_items, max_bytes) = if jp {
            (
                self.count(b, at, "MaxItemsPerBatch", "MaxItemsPerBatchPath", positive),
                self.count(
                    b,
                    at,
                    "MaxInputBytesPerBatch",
                    "MaxInputBytesPerBatchPath",
                    within_limit,
                ),
            )
        } else {
            (
                self.ata_count(b, at, "MaxItemsPerBatch", positive),
                self.ata_count(b, at, "MaxInputBytesPerBatch", within_limit),
            )
        };
        let given = [
            "MaxItemsPerBatch",
            "MaxItemsPerBatchPath",
            "MaxInputBytesPerBatch",
            "MaxInputBytesPerBatchPath",
        ];
        if !given.iter().any(|f| b.contains_key(*f)) {
            self.schema(
                at,
                "ItemBatcher needs MaxItemsPerBatch or MaxInputBytesPerBatch (or their Path forms)",
            );
        }
        ItemBatcher {
            max_items,
            max_bytes,
            batch_input: if jp {
                self.template(b, at, "BatchInput").map(Payload::Path)
            } else {
                self.ata(b, at, "BatchInput", Allowed::INPUT_ONLY).map(Payload::Ata)
            },
        }
    }

    fn processor_config(&mut self, p: &Map<String, Value>, at: &str) -> MapMode {
        let Some(cfg) = p.get("ProcessorConfig") else {
            return MapMode::Inline;
        };
        let cp = format!("{at}/ProcessorConfig");
        let Some(cfg) = cfg.as_object() else {
            self.schema(&cp, "ProcessorConfig must be an object");
            return MapMode::Inline;
        };
        self.check_fields(cfg, &cp, &["Mode", "ExecutionType"], "in ProcessorConfig");
        let mode = match cfg.get("Mode") {
            None => MapMode::Inline,
            Some(Value::String(m)) if m == "INLINE" => MapMode::Inline,
            Some(Value::String(m)) if m == "DISTRIBUTED" => MapMode::Distributed,
            Some(_) => {
                self.schema(&format!("{cp}/Mode"), "Mode must be \"INLINE\" or \"DISTRIBUTED\"");
                MapMode::Inline
            }
        };
        match cfg.get("ExecutionType") {
            None if mode == MapMode::Distributed => {
                self.schema(
                    &cp,
                    "ExecutionType (STANDARD or EXPRESS) is required when Mode is DISTRIBUTED",
                );
            }
            None => {}
            Some(Value::String(t)) if t == "STANDARD" || t == "EXPRESS" => {}
            Some(_) => self.schema(
                &format!("{cp}/ExecutionType"),
                "ExecutionType must be \"STANDARD\" or \"EXPRESS\"",
            ),
        }
        mode
    }

    fn count<T>(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        field: &str,
        path_field: &str,
        read: impl Fn(&Value) -> Option<T>,
    ) -> Option<Count<T>> {
        if let Some(p) = self.reference(obj, at, path_field) {
            return Some(Count::Path(p));
        }
        let v = obj.get(field)?;
        match read(v) {
            Some(x) => Some(Count::Fixed(x)),
            None => {
                self.schema(&format!("{at}/{field}"), format!("{field} has an invalid value: {v}"));
                None
            }
        }
    }
}
