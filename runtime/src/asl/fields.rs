//! Which fields each state type accepts, per query language (asl-reference §1.3).

use super::model::QueryLanguage;

/// Allowed fields of a state type, or `None` for an unknown type.
pub fn allowed(state_type: &str, language: QueryLanguage) -> Option<&'static [&'static str]> {
    use QueryLanguage::*;
    Some(match (state_type, language) {
        ("Pass", JsonPath) => &[
            "Type", "Comment", "QueryLanguage", "Next", "End", "InputPath", "OutputPath", "Parameters", "ResultPath", "Result", "Assign",
        ],
        ("Pass", JsonAta) => &["Type", "Comment", "QueryLanguage", "Next", "End", "Output", "Assign"],
        ("Task", JsonPath) => &[
            "Type", "Comment", "QueryLanguage", "Next", "End", "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath",
            "Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Retry", "Catch",
            "Credentials", "Assign",
        ],
        ("Task", JsonAta) => &[
            "Type", "Comment", "QueryLanguage", "Next", "End", "Resource", "Arguments", "Output", "Assign", "TimeoutSeconds",
            "HeartbeatSeconds", "Retry", "Catch", "Credentials",
        ],
        ("Choice", JsonPath) => &["Type", "Comment", "QueryLanguage", "Choices", "Default", "InputPath", "OutputPath", "Assign"],
        ("Choice", JsonAta) => &["Type", "Comment", "QueryLanguage", "Choices", "Default", "Output", "Assign"],
        ("Wait", JsonPath) => &[
            "Type", "Comment", "QueryLanguage", "Next", "End", "InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp",
            "TimestampPath", "Assign",
        ],
        ("Wait", JsonAta) => &["Type", "Comment", "QueryLanguage", "Next", "End", "Seconds", "Timestamp", "Output", "Assign"],
        ("Succeed", JsonPath) => &["Type", "Comment", "QueryLanguage", "InputPath", "OutputPath"],
        ("Succeed", JsonAta) => &["Type", "Comment", "QueryLanguage", "Output"],
        ("Fail", JsonPath) => &["Type", "Comment", "QueryLanguage", "Error", "ErrorPath", "Cause", "CausePath"],
        ("Fail", JsonAta) => &["Type", "Comment", "QueryLanguage", "Error", "Cause"],
        ("Parallel", JsonPath) => &[
            "Type", "Comment", "QueryLanguage", "Next", "End", "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath",
            "Branches", "Retry", "Catch", "Assign",
        ],
        ("Parallel", JsonAta) => &[
            "Type", "Comment", "QueryLanguage", "Next", "End", "Arguments", "Output", "Assign", "Branches", "Retry", "Catch",
        ],
        ("Map", JsonPath) => &[
            "Type", "Comment", "QueryLanguage", "Next", "End", "InputPath", "OutputPath", "Parameters", "ItemSelector",
            "ResultSelector", "ResultPath", "ItemsPath", "ItemProcessor", "Iterator", "MaxConcurrency", "MaxConcurrencyPath",
            "ItemReader", "ItemBatcher", "ResultWriter", "Label", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath",
            "ToleratedFailureCount", "ToleratedFailureCountPath", "Retry", "Catch", "Assign",
        ],
        ("Map", JsonAta) => &[
            "Type", "Comment", "QueryLanguage", "Next", "End", "Items", "ItemSelector", "ItemProcessor", "MaxConcurrency",
            "ItemReader", "ItemBatcher", "ResultWriter", "Label", "ToleratedFailurePercentage", "ToleratedFailureCount", "Output",
            "Assign", "Retry", "Catch",
        ],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];

    #[test]
    fn every_type_allows_the_common_fields() {
        for t in ["Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"] {
            for l in [QueryLanguage::JsonPath, QueryLanguage::JsonAta] {
                let a = allowed(t, l).unwrap();
                assert!(COMMON.iter().all(|c| a.contains(c)), "{t}");
            }
        }
        assert!(allowed("Loop", QueryLanguage::JsonPath).is_none());
    }
}
