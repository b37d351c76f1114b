"""State machine aliases against a running wasmstep daemon, driven with boto3 as a Step
Functions user (or Terraform's provider) would: create, describe, list, update and delete an
alias over two published versions, the errors AWS answers, StartExecution through the alias
splitting 500 starts 80/20 (within ±5%), `stateMachineAliasArn` on the executions, and a
version an alias routes to refusing deletion. Every answer is checked against botocore's model.

usage: python boto3_aliases.py ENDPOINT_URL
Exits non-zero (with the reason) on the first thing that is not what AWS would return.
"""
import json
import sys

import botoshape

URL = sys.argv[1]
sfn = botoshape.Checked(URL)
call, expect_error = sfn.call, sfn.expect_error
ROLE = "arn:aws:iam::123456789012:role/aliases"


def definition(tag):
    return json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": tag, "End": True}}})


made = call("create_state_machine", name="routed", definition=definition("v1"), roleArn=ROLE, publish=True)
machine, v1 = made["stateMachineArn"], made["stateMachineVersionArn"]
v2 = call("update_state_machine", stateMachineArn=machine, definition=definition("v2"), publish=True)["stateMachineVersionArn"]
other = call("create_state_machine", name="other", definition=definition("o"), roleArn=ROLE, publish=True)["stateMachineVersionArn"]

routing = [{"stateMachineVersionArn": v1, "weight": 80}, {"stateMachineVersionArn": v2, "weight": 20}]
created = call("create_state_machine_alias", name="PROD", description="live", routingConfiguration=routing)
alias = created["stateMachineAliasArn"]
assert alias == machine + ":PROD", alias
# The same request again answers the same alias; another configuration under the name is a conflict.
assert call("create_state_machine_alias", name="PROD", description="live", routingConfiguration=routing)["stateMachineAliasArn"] == alias
expect_error("ConflictException", "create_state_machine_alias", name="PROD",
             routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}])
expect_error("ValidationException", "create_state_machine_alias", name="BAD",
             routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 50}])
expect_error("ValidationException", "create_state_machine_alias", name="MIXED",
             routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 50}, {"stateMachineVersionArn": other, "weight": 50}])
expect_error("ValidationException", "create_state_machine_alias", name="123",
             routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}])
expect_error("ResourceNotFound", "create_state_machine_alias", name="GONE",
             routingConfiguration=[{"stateMachineVersionArn": machine + ":99", "weight": 100}])

d = call("describe_state_machine_alias", stateMachineAliasArn=alias)
assert d["name"] == "PROD" and d["description"] == "live" and d["routingConfiguration"] == routing, d
expect_error("ResourceNotFound", "describe_state_machine_alias", stateMachineAliasArn=machine + ":NOPE")
listed = call("list_state_machine_aliases", stateMachineArn=machine)["stateMachineAliases"]
assert [a["stateMachineAliasArn"] for a in listed] == [alias], listed
expect_error("StateMachineDoesNotExist", "list_state_machine_aliases",
             stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:nope")

# 500 starts through the alias: 80/20 within 5%.
by_version = {v1: 0, v2: 0}
for i in range(500):
    arn = call("start_execution", stateMachineArn=alias, input="{}")["executionArn"]
    if i < 3:
        e = call("describe_execution", executionArn=arn)
        assert e["stateMachineAliasArn"] == alias, e
        assert e["stateMachineVersionArn"] in (v1, v2), e
for v in (v1, v2):
    pages = sfn.client.get_paginator("list_executions").paginate(stateMachineArn=v)
    by_version[v] = sum(len(p["executions"]) for p in pages)
assert by_version[v1] + by_version[v2] == 500, by_version
through_alias = sum(len(p["executions"]) for p in sfn.client.get_paginator("list_executions").paginate(stateMachineArn=alias))
assert through_alias == 500, through_alias
expect_error("StateMachineDoesNotExist", "list_executions", stateMachineArn=machine + ":NOPE")
assert 375 <= by_version[v1] <= 425, f"80% of 500 within 5%: {by_version}"

# A version an alias routes to cannot be deleted; once the alias moves on, it can.
expect_error("ConflictException", "delete_state_machine_version", stateMachineVersionArn=v2)
updated = call("update_state_machine_alias", stateMachineAliasArn=alias,
               routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}])
assert updated["updateDate"] >= d["creationDate"], updated
expect_error("ValidationException", "update_state_machine_alias", stateMachineAliasArn=alias)
call("delete_state_machine_version", stateMachineVersionArn=v2)
call("update_state_machine_alias", stateMachineAliasArn=alias, description="only v1")
assert call("describe_state_machine_alias", stateMachineAliasArn=alias)["description"] == "only v1"
call("delete_state_machine_alias", stateMachineAliasArn=alias)
expect_error("ResourceNotFound", "delete_state_machine_alias", stateMachineAliasArn=alias)
assert call("list_state_machine_aliases", stateMachineArn=machine)["stateMachineAliases"] == []
expect_error("StateMachineDoesNotExist", "start_execution", stateMachineArn=alias, input="{}")
print("ok: aliases")
