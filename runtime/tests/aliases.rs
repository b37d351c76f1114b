//! State machine aliases against the real daemon with boto3 (`clients/boto3_aliases.py`):
//! the five operations and their errors, an 80/20 split over 500 starts, and a version an
//! alias routes to refusing deletion; an alias survives a restart and still routes.

mod common;

use common::{Daemon, tempdir};
use serde_json::json;

#[test]
fn boto3_drives_aliases_and_their_traffic_split() {
    let data = tempdir("aliases-boto3");
    let daemon = Daemon::start_with(&data, &[]);
    daemon.run_client("boto3_aliases.py", &[]);
}

#[test]
fn an_alias_survives_a_restart() {
    let data = tempdir("aliases-restart");
    let daemon = Daemon::start_with(&data, &[]);
    let made = daemon.call(
        "CreateStateMachine",
        json!({"name": "kept", "definition": r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#,
               "roleArn": "arn:aws:iam::123456789012:role/r", "publish": true}),
    );
    let version = made["stateMachineVersionArn"].as_str().unwrap().to_string();
    let alias = daemon.call(
        "CreateStateMachineAlias",
        json!({"name": "live", "routingConfiguration": [{"stateMachineVersionArn": version, "weight": 100}]}),
    )["stateMachineAliasArn"]
        .as_str()
        .unwrap()
        .to_string();
    daemon.kill();
    let daemon = Daemon::start_with(&data, &[]);
    let d = daemon.call("DescribeStateMachineAlias", json!({"stateMachineAliasArn": alias}));
    assert_eq!(d["routingConfiguration"][0]["stateMachineVersionArn"], version);
    let exec = daemon.start_execution(&alias, &json!({}));
    let done = daemon.wait_done(&exec, std::time::Duration::from_secs(10));
    assert_eq!(done["stateMachineAliasArn"], alias.as_str());
    assert_eq!(done["stateMachineVersionArn"], version.as_str());
    // Deleting the state machine takes its aliases.
    daemon.call(
        "DeleteStateMachine",
        json!({"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:kept"}),
    );
    let gone = daemon.try_call("DescribeStateMachineAlias", json!({"stateMachineAliasArn": alias}));
    assert_eq!(gone.unwrap_err()["__type"], "ResourceNotFound");
}
