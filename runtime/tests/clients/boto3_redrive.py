"""RedriveExecution against a running wasmstep daemon, driven with boto3 as a Step Functions
user would after fixing a bug: an execution fails in the middle of an inline Map (two of ten
items fail), is redriven, and only those two items run again (the `work` handler's calls are
counted on /metrics); a Parallel reruns only its failed branch; a stopped (ABORTED) execution
continues; DescribeExecution's and ListExecutions' redrive fields and `redriveFilter`; the
errors AWS answers (not redrivable, unknown, malformed), the clientToken answering the same
redrive again, and the history's ExecutionRedriven event. Every answer is checked against
botocore's model.

usage: python boto3_redrive.py ENDPOINT_URL
Exits non-zero (with the reason) on the first thing that is not what AWS would return.
"""
import json
import sys

import botoshape

URL = sys.argv[1]
sfn = botoshape.Checked(URL)
call, expect_error = sfn.call, sfn.expect_error
ROLE = "arn:aws:iam::123456789012:role/redrive"


def work_calls():
    return sfn.handler_calls("work")


def wait(arn, limit=30):
    return sfn.wait(arn, limit)


def machine(name, definition):
    return call("create_state_machine", name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]


WORK = {"Type": "Task", "Resource": "wasm:work"}

# 1. An inline Map over ten items, two of which fail until the execution is redriven once.
mapped = machine("redrive-map", {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Result": [{"value": i, "fail": 1 if i in (3, 7) else 0} for i in range(10)],
                    "Next": "Each"},
        "Each": {"Type": "Map", "MaxConcurrency": 1, "ItemProcessor": {
            "StartAt": "Work",
            "States": {"Work": dict(WORK, Parameters={"value.$": "$.value", "fail_until_redrive.$": "$.fail"}, End=True)},
        }, "End": True},
    },
})
before = work_calls()
arn = call("start_execution", stateMachineArn=mapped, name="nightly", input="{}")["executionArn"]
failed = wait(arn)
assert failed["status"] == "FAILED" and failed["error"] == "WorkFailed", failed
assert failed["redriveCount"] == 0 and "redriveDate" not in failed, failed
assert failed["redriveStatus"] == "REDRIVABLE" and "redriveStatusReason" not in failed, failed
first_run = work_calls() - before
# Items run one at a time and the Map stops at the first failure: items 0 to 3.
assert first_run == 4, first_run

redriven = call("redrive_execution", executionArn=arn, clientToken="fix-1")
assert redriven["redriveDate"].timestamp() > failed["stopDate"].timestamp(), redriven
# The same request again (an SDK's retry) answers the same redrive; it does not redrive twice.
again = call("redrive_execution", executionArn=arn, clientToken="fix-1")
assert again["redriveDate"] == redriven["redriveDate"], (again, redriven)
done = wait(arn)
assert done["status"] == "SUCCEEDED", done
assert [r["value"] for r in json.loads(done["output"])] == list(range(1, 11)), done["output"]
# Only the items that had not succeeded ran again: 3 (failed) and 4 to 9 (never started).
assert work_calls() - before == first_run + 7, (work_calls() - before, first_run)
assert done["redriveCount"] == 1 and done["redriveDate"] == redriven["redriveDate"], done
assert done["redriveStatus"] == "NOT_REDRIVABLE", done
assert done["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven", done
assert done["executionArn"] == arn and done["input"] == "{}", done
reason = expect_error("ExecutionNotRedrivable", "redrive_execution", executionArn=arn)
assert "SUCCEEDED" in reason, reason

events = call("get_execution_history", executionArn=arn)["events"]
types = [e["type"] for e in events]
assert types.count("ExecutionStarted") == 1 and types.count("ExecutionRedriven") == 1, types
at = types.index("ExecutionRedriven")
assert types[at - 1] == "ExecutionFailed" and types[-1] == "ExecutionSucceeded", types
assert events[at]["executionRedrivenEventDetails"] == {"redriveCount": 1}, events[at]
assert events[at]["previousEventId"] == events[at - 1]["id"], events[at]
assert [e["id"] for e in events] == list(range(1, len(events) + 1)), "ids are consecutive"
# The Map state is entered again; Prepare (which succeeded) is not.
assert [e["stateEnteredEventDetails"]["name"] for e in events[at:] if e["type"].endswith("StateEntered")][0] == "Each"
assert not any(e["type"] == "PassStateEntered" for e in events[at:]), types[at:]

# 2. A Parallel state: only the branch that failed runs again.
parallel = machine("redrive-parallel", {
    "StartAt": "Both",
    "States": {"Both": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Fine", "States": {"Fine": dict(WORK, Parameters={"value": 10}, End=True)}},
        {"StartAt": "Flaky", "States": {"Flaky": dict(WORK, Parameters={"value": 20, "sleep_ms": 300, "fail_until_redrive": 1},
                                                         End=True)}},
    ]}},
})
before = work_calls()
arn = call("start_execution", stateMachineArn=parallel, input="{}")["executionArn"]
assert wait(arn)["status"] == "FAILED"
assert work_calls() - before == 2
call("redrive_execution", executionArn=arn)
done = wait(arn)
assert done["status"] == "SUCCEEDED", done
assert [b["value"] for b in json.loads(done["output"])] == [11, 21], done["output"]
assert work_calls() - before == 3, "only the failed branch ran again"

# 3. A stopped execution continues from where it was stopped; a running one cannot be redriven.
waiting = machine("redrive-stopped", {
    "StartAt": "Hold",
    "States": {
        "Hold": {"Type": "Wait", "Seconds": 1, "Next": "After"},
        "After": {"Type": "Pass", "Result": "after", "End": True},
    },
})
arn = call("start_execution", stateMachineArn=waiting, input="{}")["executionArn"]
reason = expect_error("ExecutionNotRedrivable", "redrive_execution", executionArn=arn)
assert "RUNNING" in reason, reason
call("stop_execution", executionArn=arn, error="Operator", cause="paused for a fix")
stopped = call("describe_execution", executionArn=arn)
assert stopped["status"] == "ABORTED" and stopped["redriveStatus"] == "REDRIVABLE", stopped
call("redrive_execution", executionArn=arn)
done = wait(arn)
assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == "after", done

# 4. ListExecutions: redrive fields and redriveFilter.
listed = call("list_executions", stateMachineArn=mapped, redriveFilter="REDRIVEN")["executions"]
assert [e["name"] for e in listed] == ["nightly"], listed
assert listed[0]["redriveCount"] == 1 and "redriveDate" in listed[0], listed
never = call("start_execution", stateMachineArn=mapped, input=json.dumps({}))["executionArn"]
wait(never)
listed = call("list_executions", stateMachineArn=mapped, redriveFilter="NOT_REDRIVEN")["executions"]
assert [e["executionArn"] for e in listed] == [never], listed
assert listed[0]["redriveCount"] == 0 and "redriveDate" not in listed[0], listed
assert len(call("list_executions", stateMachineArn=mapped)["executions"]) == 2
expect_error("ValidationException", "list_executions", stateMachineArn=mapped, redriveFilter="SOMETIMES")

# 5. The errors: unknown and malformed ARNs, a bad client token, a deleted state machine.
expect_error("ExecutionDoesNotExist", "redrive_execution",
             executionArn="arn:aws:states:us-east-1:123456789012:execution:redrive-map:nope")
expect_error("InvalidArn", "redrive_execution", executionArn="not-an-arn")
expect_error("ValidationException", "redrive_execution", executionArn=never, clientToken="x" * 65)
call("delete_state_machine", stateMachineArn=mapped)
d = call("describe_execution", executionArn=never)
assert d["redriveStatus"] == "NOT_REDRIVABLE" and "no longer exists" in d["redriveStatusReason"], d
reason = expect_error("ExecutionNotRedrivable", "redrive_execution", executionArn=never)
assert "no longer exists" in reason, reason

print("redrive: ok")
