"""Drives a running wasmstep daemon with boto3, the way a Step Functions user would.

usage: python boto3_client.py ENDPOINT_URL
Exits non-zero (with the reason) on the first thing that is not what AWS would return.
"""
import json
import sys
import time

import boto3
from botocore.config import Config

endpoint = sys.argv[1]
sfn = boto3.client(
    "stepfunctions",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    # StartSyncExecution's "sync-" host prefix does not apply to a local endpoint.
    config=Config(inject_host_prefix=False),
)

definition = {
    "StartAt": "Add",
    "States": {
        "Add": {"Type": "Task", "Resource": "wasm:add", "ResultPath": "$.r", "Next": "Done"},
        "Done": {"Type": "Pass", "OutputPath": "$.r", "End": True},
    },
}
role = "arn:aws:iam::123456789012:role/boto3"
arn = sfn.create_state_machine(name="boto3-add", definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
assert arn.endswith(":stateMachine:boto3-add"), arn

described = sfn.describe_state_machine(stateMachineArn=arn)
assert described["status"] == "ACTIVE", described
# boto3 parses epoch-seconds timestamps into datetimes.
assert described["creationDate"].year >= 2024, described["creationDate"]

names = [m["name"] for m in sfn.get_paginator("list_state_machines").paginate().build_full_result()["stateMachines"]]
assert "boto3-add" in names, names

started = sfn.start_execution(stateMachineArn=arn, name="one", input=json.dumps({"a": 40, "b": 2}))
exec_arn = started["executionArn"]
for _ in range(500):
    d = sfn.describe_execution(executionArn=exec_arn)
    if d["status"] != "RUNNING":
        break
    time.sleep(0.02)
assert d["status"] == "SUCCEEDED", d
assert json.loads(d["output"]) == {"sum": 42}, d["output"]

events = sfn.get_paginator("get_execution_history").paginate(executionArn=exec_arn, maxResults=2).build_full_result()["events"]
types = [e["type"] for e in events]
assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded", types
assert "TaskSucceeded" in types, types
assert [e["id"] for e in events] == list(range(1, len(events) + 1)), events

listed = sfn.list_executions(stateMachineArn=arn, statusFilter="SUCCEEDED")["executions"]
assert [e["name"] for e in listed] == ["one"], listed

# Errors arrive as the modelled exception classes.
try:
    sfn.describe_execution(executionArn=exec_arn + "-missing")
    raise AssertionError("describe of a missing execution succeeded")
except sfn.exceptions.ExecutionDoesNotExist:
    pass
try:
    sfn.create_state_machine(name="bad", definition=json.dumps({"StartAt": "Nowhere", "States": {"A": {"Type": "Succeed"}}}), roleArn=role)
    raise AssertionError("an invalid definition was accepted")
except sfn.exceptions.InvalidDefinition as e:
    assert "Nowhere" in str(e), str(e)
try:
    sfn.start_execution(stateMachineArn=arn, input="{not json")
    raise AssertionError("invalid input was accepted")
except sfn.exceptions.InvalidExecutionInput:
    pass

try:
    sfn.describe_execution(executionArn="not-an-arn")
    raise AssertionError("a bad ARN was accepted")
except sfn.exceptions.InvalidArn:
    pass

# Stop a waiting execution.
waits = sfn.create_state_machine(
    name="boto3-waits",
    definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}),
    roleArn=role,
    tags=[{"key": "team", "value": "qa"}],
)["stateMachineArn"]
assert sfn.list_tags_for_resource(resourceArn=waits)["tags"] == [{"key": "team", "value": "qa"}]
waiting = sfn.start_execution(stateMachineArn=waits, name="sleeper")["executionArn"]
assert sfn.describe_execution(executionArn=waiting)["status"] == "RUNNING"
stopped = sfn.stop_execution(executionArn=waiting, error="Operator", cause="test")
assert stopped["stopDate"].year >= 2024, stopped
d = sfn.describe_execution(executionArn=waiting)
assert d["status"] == "ABORTED" and d["error"] == "Operator", d
last = sfn.get_execution_history(executionArn=waiting, reverseOrder=True, maxResults=1)["events"][0]
assert last["type"] == "ExecutionAborted", last

# Versions.
v1 = sfn.publish_state_machine_version(stateMachineArn=arn, description="v1")["stateMachineVersionArn"]
assert v1 == arn + ":1", v1
versions = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
assert [v["stateMachineVersionArn"] for v in versions] == [v1], versions

express = sfn.create_state_machine(
    name="boto3-express", definition=json.dumps(definition), roleArn=role, type="EXPRESS"
)["stateMachineArn"]
sync = sfn.start_sync_execution(stateMachineArn=express, input=json.dumps({"a": 1, "b": 2}))
assert sync["status"] == "SUCCEEDED", sync
assert json.loads(sync["output"]) == {"sum": 3}, sync

sfn.delete_state_machine(stateMachineArn=express)
try:
    sfn.describe_state_machine(stateMachineArn=express)
    raise AssertionError("a deleted state machine is still described")
except sfn.exceptions.StateMachineDoesNotExist:
    pass
print("boto3: ok")
