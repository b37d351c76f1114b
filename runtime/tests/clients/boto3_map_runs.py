"""Map Runs against a running wasmstep daemon, driven with boto3 as a Step Functions user
would: ListMapRuns and DescribeMapRun while a Distributed Map runs and after (counts of items
and children by status), UpdateMapRun raising the concurrency of a running Map Run (observed in
how soon it ends) and its tolerated failures (a Map that would fail succeeds), ListExecutions of
a Map Run and DescribeExecution/GetExecutionHistory of a child, a Map Run stopped with its
execution (ABORTED), a Map Run redriven with its execution (only failed and unstarted children
run again), and the errors AWS answers. Every answer is checked against botocore's model.

usage: python boto3_map_runs.py ENDPOINT_URL
Exits non-zero (with the reason) on the first thing that is not what AWS would return.
"""
import json
import sys
import time

import botoshape

URL = sys.argv[1]
sfn = botoshape.Checked(URL)
call, expect_error = sfn.call, sfn.expect_error
ROLE = "arn:aws:iam::123456789012:role/maprun"


def wait(arn, limit=60):
    return sfn.wait(arn, limit)


def until(what, check, limit=20):
    t0 = time.time()
    while time.time() - t0 < limit:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


def work_calls():
    return sfn.handler_calls("work")


def machine(name, definition):
    return call("create_state_machine", name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]


def distributed(states, start):
    return {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": start, "States": states}


def the_run(execution):
    runs = until("a Map Run", lambda: call("list_map_runs", executionArn=execution)["mapRuns"])
    assert len(runs) == 1, runs
    return runs[0]


# 1. A Map Run of 20 items, two at a time, each waiting a second: about ten seconds, unless
# its concurrency is raised while it runs.
slow = machine("maprun-slow", {
    "StartAt": "Each",
    "States": {"Each": {"Type": "Map", "End": True, "MaxConcurrency": 2, "Label": "Batch", "ItemsPath": "$.items",
                        "ItemProcessor": distributed({
                            "Hold": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
                            "Done": {"Type": "Pass", "Parameters": {"n.$": "$.n"}, "End": True}}, "Hold")}},
})
items = [{"n": i} for i in range(20)]
started = time.time()
arn = call("start_execution", stateMachineArn=slow, input=json.dumps({"items": items}))["executionArn"]
run = the_run(arn)
assert run["executionArn"] == arn, run
assert ":mapRun:maprun-slow/Batch:" in run["mapRunArn"], run
assert run["stateMachineArn"].endswith(":stateMachine:maprun-slow/Batch"), run
assert "stopDate" not in run, run
d = call("describe_map_run", mapRunArn=run["mapRunArn"])
assert d["status"] == "RUNNING" and d["maxConcurrency"] == 2, d
assert d["itemCounts"]["total"] == 20 and d["executionCounts"]["total"] == 20, d
assert d["executionCounts"]["running"] <= 2, d
assert d["toleratedFailureCount"] == 0 and d["toleratedFailurePercentage"] == 0, d
call("update_map_run", mapRunArn=run["mapRunArn"], maxConcurrency=20)
assert call("describe_map_run", mapRunArn=run["mapRunArn"])["maxConcurrency"] == 20
done = wait(arn)
took = time.time() - started
assert done["status"] == "SUCCEEDED", done
assert took < 6, f"the raised concurrency was not used: {took:.1f} s"
assert [o["n"] for o in json.loads(done["output"])] == list(range(20))
d = call("describe_map_run", mapRunArn=run["mapRunArn"])
assert d["status"] == "SUCCEEDED" and "stopDate" in d, d
for counts in (d["itemCounts"], d["executionCounts"]):
    assert counts["succeeded"] == 20 and counts["running"] == 0 and counts["pending"] == 0, d
    assert counts["failed"] == 0 and counts["total"] == 20, d
events = call("get_execution_history", executionArn=arn)["events"]
started_event = [e for e in events if e["type"] == "MapRunStarted"]
assert started_event[0]["mapRunStartedEventDetails"]["mapRunArn"] == run["mapRunArn"], started_event
assert any(e["type"] == "MapRunSucceeded" for e in events)
expect_error("ValidationException", "update_map_run", mapRunArn=run["mapRunArn"], maxConcurrency=5)

# 2. Its children: ListExecutions of the Map Run, DescribeExecution and history of one.
children = call("list_executions", mapRunArn=run["mapRunArn"])["executions"]
assert len(children) == 20, len(children)
assert all(c["mapRunArn"] == run["mapRunArn"] and c["status"] == "SUCCEEDED" for c in children), children[0]
assert all(c["stateMachineArn"] == run["stateMachineArn"] for c in children), children[0]
page = call("list_executions", mapRunArn=run["mapRunArn"], maxResults=5)
assert len(page["executions"]) == 5 and "nextToken" in page, page
assert call("list_executions", mapRunArn=run["mapRunArn"], statusFilter="FAILED")["executions"] == []
child = call("describe_execution", executionArn=children[0]["executionArn"])
assert child["mapRunArn"] == run["mapRunArn"] and child["status"] == "SUCCEEDED", child
assert json.loads(child["output"]) == {"n": json.loads(child["input"])["n"]}, child
history = call("get_execution_history", executionArn=children[0]["executionArn"])["events"]
assert [e["type"] for e in history] == ["ExecutionStarted", "ExecutionSucceeded"], history
# Children are not executions of the parent state machine.
assert len(call("list_executions", stateMachineArn=slow)["executions"]) == 1

# 3. Tolerated failures raised while it runs: the Map succeeds though an item fails.
tolerant = machine("maprun-tolerance", {
    "StartAt": "Each",
    "States": {"Each": {"Type": "Map", "End": True, "MaxConcurrency": 1, "ItemsPath": "$.items",
                        "ItemProcessor": distributed({
                            "Check": {"Type": "Choice", "Choices": [{"Variable": "$.bad", "BooleanEquals": True, "Next": "Bad"}],
                                      "Default": "Hold"},
                            "Bad": {"Type": "Fail", "Error": "BadItem"},
                            "Hold": {"Type": "Wait", "Seconds": 1, "End": True}}, "Check")}},
})
arn = call("start_execution", stateMachineArn=tolerant,
           input=json.dumps({"items": [{"bad": False}, {"bad": True}, {"bad": False}]}))["executionArn"]
run = the_run(arn)
call("update_map_run", mapRunArn=run["mapRunArn"], toleratedFailureCount=1, toleratedFailurePercentage=50)
done = wait(arn)
assert done["status"] == "SUCCEEDED", done
d = call("describe_map_run", mapRunArn=run["mapRunArn"])
assert d["toleratedFailureCount"] == 1 and d["toleratedFailurePercentage"] == 50, d
assert d["executionCounts"]["failed"] == 1 and d["executionCounts"]["succeeded"] == 2, d
failed = call("list_executions", mapRunArn=run["mapRunArn"], statusFilter="FAILED")["executions"]
assert len(failed) == 1, failed
f = call("describe_execution", executionArn=failed[0]["executionArn"])
assert f["error"] == "BadItem" and f["redriveStatus"] == "REDRIVABLE_BY_MAP_RUN", f

# 4. Stopped with its execution: ABORTED.
arn = call("start_execution", stateMachineArn=slow, input=json.dumps({"items": items}))["executionArn"]
run = the_run(arn)
call("stop_execution", executionArn=arn)
d = until("the Map Run aborted",
          lambda: (lambda m: m if m["status"] == "ABORTED" else None)(call("describe_map_run", mapRunArn=run["mapRunArn"])))
assert d["executionCounts"]["succeeded"] + d["executionCounts"]["aborted"] + d["executionCounts"]["pending"] == 20, d
assert any(e["type"] == "MapRunAborted" for e in call("get_execution_history", executionArn=arn)["events"])

# 5. Redriven with its execution: the same Map Run runs again; only what did not succeed.
flaky = machine("maprun-redrive", {
    "StartAt": "Each",
    "States": {"Each": {"Type": "Map", "End": True, "MaxConcurrency": 1, "ItemsPath": "$.items",
                        "ItemProcessor": distributed({
                            "Work": {"Type": "Task", "Resource": "wasm:work",
                                     "Parameters": {"value.$": "$.n", "fail_until_redrive.$": "$.fail"}, "End": True}}, "Work")}},
})
before = work_calls()
arn = call("start_execution", stateMachineArn=flaky,
           input=json.dumps({"items": [{"n": i, "fail": 1 if i == 2 else 0} for i in range(6)]}))["executionArn"]
assert wait(arn)["status"] == "FAILED"
assert work_calls() - before == 3, work_calls() - before
run = the_run(arn)
d = call("describe_map_run", mapRunArn=run["mapRunArn"])
assert d["status"] == "FAILED" and d["executionCounts"]["failed"] == 1 and d["redriveCount"] == 0, d
call("redrive_execution", executionArn=arn)
done = wait(arn)
assert done["status"] == "SUCCEEDED", done
assert work_calls() - before == 3 + 4, "item 2 and the three never started ran; 0 and 1 did not"
assert the_run(arn)["mapRunArn"] == run["mapRunArn"], "the same Map Run"
d = call("describe_map_run", mapRunArn=run["mapRunArn"])
assert d["status"] == "SUCCEEDED" and d["redriveCount"] == 1 and "redriveDate" in d, d
assert d["executionCounts"]["succeeded"] == 6, d
redriven = [e for e in call("get_execution_history", executionArn=arn)["events"] if e["type"] == "MapRunRedriven"]
assert redriven[0]["mapRunRedrivenEventDetails"] == {"mapRunArn": run["mapRunArn"], "redriveCount": 1}, redriven

# 6. The errors.
expect_error("ResourceNotFound", "describe_map_run",
             mapRunArn="arn:aws:states:us-east-1:123456789012:mapRun:maprun-slow/Batch:0000")
expect_error("InvalidArn", "describe_map_run", mapRunArn="arn:aws:states:us-east-1:123456789012:execution:x:y")
expect_error("ResourceNotFound", "update_map_run",
             mapRunArn="arn:aws:states:us-east-1:123456789012:mapRun:maprun-slow/Batch:0000", maxConcurrency=1)
expect_error("ValidationException", "update_map_run", mapRunArn=run["mapRunArn"], toleratedFailurePercentage=101)
expect_error("ExecutionDoesNotExist", "list_map_runs",
             executionArn="arn:aws:states:us-east-1:123456789012:execution:maprun-slow:nope")
expect_error("ValidationException", "list_executions", stateMachineArn=slow, mapRunArn=run["mapRunArn"])
expect_error("ResourceNotFound", "list_executions",
             mapRunArn="arn:aws:states:us-east-1:123456789012:mapRun:maprun-slow/Batch:0000")

print("map runs: ok")
