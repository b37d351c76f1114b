"""Task tokens, activities and nested executions against a running wasmstep daemon, driven with
boto3 as a Step Functions user would: a human approval, a heartbeat timeout, a token answered
twice, a retried rejection, a pool of 3 activity workers processing 100 tasks, a parent with
.sync:2 children in a Map and a child failure it catches. Every answer of the eight operations
these add is checked against botocore's model of its output shape.

usage: python boto3_callbacks.py ENDPOINT_URL
Exits non-zero (with the reason) on the first thing that is not what AWS would return.
"""
import datetime
import json
import sys
import threading
import time

import boto3
from botocore.config import Config

import botoshape
from botoshape import check_shape

endpoint = sys.argv[1]
sfn = boto3.client(
    "stepfunctions",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    # GetActivityTask holds the connection up to 60 s.
    config=Config(inject_host_prefix=False, read_timeout=70, retries={"max_attempts": 1}),
)
model = sfn.meta.service_model
ROLE = "arn:aws:iam::123456789012:role/boto3"
checked = set()


def call(op, **kwargs):
    """Calls op (its Python name) and checks the answer against the model."""
    answer = getattr(sfn, op)(**kwargs)
    name = sfn.meta.method_to_api_mapping[op]
    check_shape(model.operation_model(name).output_shape, answer, name)
    checked.add(name)
    return answer


def expect_error(code, op, **kwargs):
    return botoshape.expect_error(sfn, code, op, **kwargs)


def machine(name, definition):
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]


def done(arn, limit=60):
    end = time.time() + limit
    while time.time() < end:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.05)
    raise AssertionError(f"{arn} still running after {limit} s")


def history(arn):
    return sfn.get_paginator("get_execution_history").paginate(executionArn=arn).build_full_result()["events"]


def wait_for_event(arn, kind, limit=30):
    end = time.time() + limit
    while time.time() < end:
        for e in history(arn):
            if e["type"] == kind:
                return e
        time.sleep(0.05)
    raise AssertionError(f"no {kind} in {arn} after {limit} s: {[e['type'] for e in history(arn)]}")


def token_of(arn, nth=1):
    """The token as an approver gets it: in the payload the Task handed its handler."""
    scheduled = [e for e in history(arn) if e["type"] == "TaskScheduled"]
    while len(scheduled) < nth or not any(e["type"] == "TaskSubmitted" for e in history(arn)[scheduled[-1]["id"] :]):
        time.sleep(0.05)
        scheduled = [e for e in history(arn) if e["type"] == "TaskScheduled"]
    params = json.loads(scheduled[nth - 1]["taskScheduledEventDetails"]["parameters"])
    return params["Payload"]["token"]


# --- A human approval: the token reaches the approver through the handler's payload. -------
approval = machine(
    "approval",
    {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "identity", "Payload": {"order.$": "$.order", "token.$": "$$.Task.Token"}},
                "ResultPath": "$.approval",
                "Next": "Done",
            },
            "Done": {"Type": "Pass", "End": True},
        },
    },
)
run = sfn.start_execution(stateMachineArn=approval, name="order-1", input=json.dumps({"order": 1}))["executionArn"]
token = token_of(run)
time.sleep(0.3)
assert sfn.describe_execution(executionArn=run)["status"] == "RUNNING", "the Task must wait for its token"
call("send_task_success", taskToken=token, output=json.dumps({"approved": True, "by": "ana"}))
d = done(run)
assert d["status"] == "SUCCEEDED", d
assert json.loads(d["output"]) == {"order": 1, "approval": {"approved": True, "by": "ana"}}, d["output"]
types = [e["type"] for e in history(run)]
assert types == [
    "ExecutionStarted",
    "TaskStateEntered",
    "TaskScheduled",
    "TaskStarted",
    "TaskSubmitted",
    "TaskSucceeded",
    "TaskStateExited",
    "PassStateEntered",
    "PassStateExited",
    "ExecutionSucceeded",
], types
submitted = next(e for e in history(run) if e["type"] == "TaskSubmitted")["taskSubmittedEventDetails"]
assert submitted["resourceType"] == "lambda" and submitted["resource"] == "invoke.waitForTaskToken", submitted
assert json.loads(submitted["output"])["StatusCode"] == 200, submitted
# A token is single-use; unknown and malformed ones are told apart; output must be JSON.
expect_error("TaskTimedOut", "send_task_success", taskToken=token, output="{}")
expect_error("TaskTimedOut", "send_task_failure", taskToken=token, error="Late")
expect_error("TaskDoesNotExist", "send_task_success", taskToken="A" * 43, output="{}")
expect_error("InvalidToken", "send_task_success", taskToken="not-a-token", output="{}")
run2 = sfn.start_execution(stateMachineArn=approval, name="order-2", input=json.dumps({"order": 2}))["executionArn"]
token2 = token_of(run2)
expect_error("InvalidOutput", "send_task_success", taskToken=token2, output="{not json")
call("send_task_failure", taskToken=token2, error="Rejected", cause="too expensive")
d = done(run2)
assert d["status"] == "FAILED" and d["error"] == "Rejected" and d["cause"] == "too expensive", d
failed = next(e for e in history(run2) if e["type"] == "TaskFailed")["taskFailedEventDetails"]
assert failed["error"] == "Rejected", failed

# --- Heartbeats: one in time, then silence -> States.HeartbeatTimeout, caught. --------------
beats = machine(
    "heartbeats",
    {
        "StartAt": "Wait for worker",
        "States": {
            "Wait for worker": {
                "Type": "Task",
                "Resource": "wasm:identity.waitForTaskToken",
                "Parameters": {"Payload": {"token.$": "$$.Task.Token"}},
                "HeartbeatSeconds": 2,
                "TimeoutSeconds": 60,
                "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.error", "Next": "Gave up"}],
                "End": True,
            },
            "Gave up": {"Type": "Pass", "End": True},
        },
    },
)
run = sfn.start_execution(stateMachineArn=beats, input="{}")["executionArn"]
token = token_of(run)
started = time.time()
time.sleep(1.2)
call("send_task_heartbeat", taskToken=token)
d = done(run)
lasted = time.time() - started
assert d["status"] == "SUCCEEDED", d
assert json.loads(d["output"])["error"]["Error"] == "States.HeartbeatTimeout", d["output"]
assert lasted > 2.5, f"the heartbeat should have kept the Task waiting (ended after {lasted:.1f} s)"
timed_out = next(e for e in history(run) if e["type"] == "TaskTimedOut")["taskTimedOutEventDetails"]
assert timed_out["error"] == "States.HeartbeatTimeout", timed_out
expect_error("TaskTimedOut", "send_task_heartbeat", taskToken=token)

# --- A rejection retried: each attempt has a token of its own. ------------------------------
retried = machine(
    "retried-approval",
    {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "identity", "Payload": {"token.$": "$$.Task.Token"}},
                "Retry": [{"ErrorEquals": ["Rejected"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                "End": True,
            }
        },
    },
)
run = sfn.start_execution(stateMachineArn=retried, input="{}")["executionArn"]
first = token_of(run, 1)
call("send_task_failure", taskToken=first, error="Rejected")
second = token_of(run, 2)
assert second != first, "a new token per attempt"
call("send_task_success", taskToken=second, output='"fine"')
d = done(run)
assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == "fine", d

# --- Activities: a pool of 3 workers, 100 tasks, none done twice. ---------------------------
created = call("create_activity", name="resize")
arn = created["activityArn"]
assert arn == "arn:aws:states:us-east-1:123456789012:activity:resize", created
assert call("create_activity", name="resize")["activityArn"] == arn, "CreateActivity is idempotent"
described = call("describe_activity", activityArn=arn)
assert described["name"] == "resize", described
assert arn in [a["activityArn"] for a in call("list_activities")["activities"]]
expect_error("ActivityDoesNotExist", "describe_activity", activityArn=arn + "-nope")
# Activities take tags, at creation and after.
tagged = call("create_activity", name="tagged", tags=[{"key": "team", "value": "imaging"}])["activityArn"]
sfn.tag_resource(resourceArn=tagged, tags=[{"key": "tier", "value": "gold"}])
got = {t["key"]: t["value"] for t in sfn.list_tags_for_resource(resourceArn=tagged)["tags"]}
assert got == {"team": "imaging", "tier": "gold"}, got
sfn.untag_resource(resourceArn=tagged, tagKeys=["tier"])
assert [t["key"] for t in sfn.list_tags_for_resource(resourceArn=tagged)["tags"]] == ["team"]
expect_error("ActivityAlreadyExists", "create_activity", name="tagged", tags=[{"key": "team", "value": "other"}])
expect_error("ResourceNotFound", "list_tags_for_resource", resourceArn=tagged + "-nope")

# An empty poll waits its 60 s and answers with no token (in the background meanwhile).
idle = call("create_activity", name="idle")["activityArn"]
idle_answer = {}


def poll_idle():
    t = time.time()
    idle_answer["answer"] = call("get_activity_task", activityArn=idle, workerName="idle")
    idle_answer["seconds"] = time.time() - t


idle_poller = threading.Thread(target=poll_idle)
idle_poller.start()

pool = machine(
    "resize-all",
    {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 100,
                "ItemProcessor": {
                    "StartAt": "Resize",
                    "States": {"Resize": {"Type": "Task", "Resource": arn, "TimeoutSeconds": 120, "End": True}},
                },
                "End": True,
            }
        },
    },
)
run = sfn.start_execution(stateMachineArn=pool, input=json.dumps({"items": [{"n": i} for i in range(100)]}))["executionArn"]
seen, lock, stop = [], threading.Lock(), threading.Event()


def worker(name):
    client = boto3.client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(read_timeout=70),
    )
    while not stop.is_set():
        task = client.get_activity_task(activityArn=arn, workerName=name)
        if not task.get("taskToken"):
            continue
        n = json.loads(task["input"])["n"]
        with lock:
            seen.append(n)
        client.send_task_success(taskToken=task["taskToken"], output=json.dumps({"n": n, "double": 2 * n, "by": name}))


workers = [threading.Thread(target=worker, args=(f"worker-{i}",), daemon=True) for i in range(3)]
for w in workers:
    w.start()
d = done(run, limit=120)
stop.set()
assert d["status"] == "SUCCEEDED", d
out = json.loads(d["output"])
assert [o["double"] for o in out] == [2 * i for i in range(100)], out
assert sorted(seen) == list(range(100)), f"each task to one worker, once: {sorted(seen)}"
assert len({o["by"] for o in out}) > 1, "the pool shares the work"
types = [e["type"] for e in history(run)]
assert types.count("ActivityScheduled") == 100 and types.count("ActivityStarted") == 100, types
assert types.count("ActivitySucceeded") == 100, types
started = next(e for e in history(run) if e["type"] == "ActivityStarted")["activityStartedEventDetails"]
assert started["workerName"].startswith("worker-"), started
# A task handed out and answered with SendTaskFailure fails its Task with that error (another
# activity: the pool's workers may still be polling this one).
inspect = call("create_activity", name="inspect")["activityArn"]
lonely = machine(
    "one-inspection",
    {"StartAt": "Inspect", "States": {"Inspect": {"Type": "Task", "Resource": inspect, "HeartbeatSeconds": 30, "End": True}}},
)
run = sfn.start_execution(stateMachineArn=lonely, input=json.dumps({"n": -1}))["executionArn"]
task = {}
while not task.get("taskToken"):
    task = call("get_activity_task", activityArn=inspect, workerName="solo")
assert json.loads(task["input"]) == {"n": -1}, task
call("send_task_heartbeat", taskToken=task["taskToken"])
call("send_task_failure", taskToken=task["taskToken"], error="BadImage", cause="not a PNG")
d = done(run)
assert d["status"] == "FAILED" and d["error"] == "BadImage", d
assert [e["type"] for e in history(run)][-3:] == ["ActivityStarted", "ActivityFailed", "ExecutionFailed"], history(run)

# --- Nested executions: .sync:2 children in a Map, a child failure caught. ------------------
double = machine(
    "double",
    {"StartAt": "Double", "States": {"Double": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, $.n)", "parent.$": "$.AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"}, "End": True}}},
)
broken = machine("broken", {"StartAt": "Break", "States": {"Break": {"Type": "Fail", "Error": "ChildBroke", "Cause": "bad input"}}})
parent = machine(
    "parent",
    {
        "StartAt": "Children",
        "States": {
            "Children": {
                "Type": "Map",
                "ItemsPath": "$.numbers",
                "ItemProcessor": {
                    "StartAt": "Child",
                    "States": {
                        "Child": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::states:startExecution.sync:2",
                            "Parameters": {
                                "StateMachineArn": double,
                                "Input": {"n.$": "$", "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"},
                            },
                            "OutputPath": "$.Output",
                            "End": True,
                        }
                    },
                },
                "ResultPath": "$.doubled",
                "Next": "Fire and forget",
            },
            "Fire and forget": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution",
                "Parameters": {"StateMachineArn": double, "Input": {"n": 0, "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": "x"}},
                "ResultPath": "$.started",
                "Next": "Failing child",
            },
            "Failing child": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync",
                "Parameters": {"StateMachineArn": broken, "Input": "{}"},
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.caught", "Next": "Done"}],
                "End": True,
            },
            "Done": {"Type": "Pass", "End": True},
        },
    },
)
run = sfn.start_execution(stateMachineArn=parent, input=json.dumps({"numbers": [1, 2, 3]}))["executionArn"]
d = done(run)
assert d["status"] == "SUCCEEDED", d
out = json.loads(d["output"])
assert [c["n"] for c in out["doubled"]] == [2, 4, 6], out
assert all(c["parent"] == run for c in out["doubled"]), out
assert out["started"]["ExecutionArn"].startswith("arn:aws:states:us-east-1:123456789012:execution:double:"), out
assert isinstance(out["started"]["StartDate"], int), out["started"]
assert out["caught"]["Error"] == "States.TaskFailed", out["caught"]
cause = json.loads(out["caught"]["Cause"])
assert cause["Status"] == "FAILED" and cause["Error"] == "ChildBroke" and cause["Cause"] == "bad input", cause
children = sfn.list_executions(stateMachineArn=double)["executions"]
assert len(children) == 4, children
submitted = [e for e in history(run) if e["type"] == "TaskSubmitted"]
assert len(submitted) == 4, [e["type"] for e in history(run)]

# An Express child runs to its end when started; .sync:2 gets its output all the same.
quick = sfn.create_state_machine(
    name="express-double",
    type="EXPRESS",
    roleArn=ROLE,
    definition=json.dumps({"StartAt": "D", "States": {"D": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, $.n)"}, "End": True}}}),
)["stateMachineArn"]
express_parent = machine(
    "express-parent",
    {
        "StartAt": "Child",
        "States": {
            "Child": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": quick, "Input": {"n": 5}},
                "End": True,
            }
        },
    },
)
d = done(sfn.start_execution(stateMachineArn=express_parent, input="{}")["executionArn"])
assert d["status"] == "SUCCEEDED", d
out = json.loads(d["output"])
assert out["Output"] == {"n": 10} and out["Status"] == "SUCCEEDED", out
assert ":express:express-double:" in out["ExecutionArn"], out

# --- Stopping a parent stops the child it waits for. ----------------------------------------
slow = machine("slow-child", {"StartAt": "Sleep", "States": {"Sleep": {"Type": "Wait", "Seconds": 300, "End": True}}})
waiting_parent = machine(
    "waiting-parent",
    {
        "StartAt": "Child",
        "States": {
            "Child": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": slow, "Name": "the-slow-one"},
                "End": True,
            }
        },
    },
)
run = sfn.start_execution(stateMachineArn=waiting_parent, input="{}")["executionArn"]
wait_for_event(run, "TaskSubmitted")
sfn.stop_execution(executionArn=run, error="Enough")
child = "arn:aws:states:us-east-1:123456789012:execution:slow-child:the-slow-one"
assert done(child, limit=10)["status"] == "ABORTED", sfn.describe_execution(executionArn=child)

# --- Deleting, and the idle poll's answer. --------------------------------------------------
call("delete_activity", activityArn=idle)
idle_poller.join()
assert "taskToken" not in idle_answer["answer"] or not idle_answer["answer"]["taskToken"], idle_answer
assert 55 <= idle_answer["seconds"] <= 65, idle_answer
expect_error("ActivityDoesNotExist", "describe_activity", activityArn=idle)

want = {
    "CreateActivity",
    "DeleteActivity",
    "DescribeActivity",
    "ListActivities",
    "GetActivityTask",
    "SendTaskSuccess",
    "SendTaskFailure",
    "SendTaskHeartbeat",
}
assert want <= checked, f"not checked against the model: {want - checked}"
print(f"ok: {len(checked)} operations checked against botocore's model")
