"""Schedules against a running wasmstep daemon, driven with boto3's `scheduler` client as an
EventBridge Scheduler user would: a `rate(1 minute)` schedule starts an execution each minute
with its input (in real time: this runs a little over two minutes), a disabled one starts
nothing, a one-time `at(...)` schedule fires once and deletes itself, a cron schedule keeps its
time zone, groups hold schedules and tags, and the errors are the ones AWS answers. Every answer
is checked against botocore's model of its output shape.

usage: python boto3_schedules.py ENDPOINT_URL
Exits non-zero (with the reason) on the first thing that is not what AWS would return.
"""
import datetime
import json
import sys
import time
import zoneinfo

import boto3
from botocore.config import Config

import botoshape
from botoshape import check_shape

endpoint = sys.argv[1]
common = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(inject_host_prefix=False, retries={"max_attempts": 1}),
)
scheduler = boto3.client("scheduler", **common)
sfn = boto3.client("stepfunctions", **common)
model = scheduler.meta.service_model
ROLE = "arn:aws:iam::123456789012:role/scheduler"


def call(op, **kwargs):
    answer = getattr(scheduler, op)(**kwargs)
    name = scheduler.meta.method_to_api_mapping[op]
    check_shape(model.operation_model(name).output_shape, answer, name)
    return answer


def expect_error(code, op, **kwargs):
    return botoshape.expect_error(scheduler, code, op, **kwargs)


machine = sfn.create_state_machine(
    name="ticker",
    definition=json.dumps({"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}),
    roleArn=ROLE,
)["stateMachineArn"]
OFF = {"Mode": "OFF"}


def target(input_=None, arn=None):
    t = {"Arn": arn or machine, "RoleArn": ROLE}
    if input_ is not None:
        t["Input"] = json.dumps(input_)
    return t


created = time.time()
arn = call(
    "create_schedule",
    Name="every-minute",
    ScheduleExpression="rate(1 minute)",
    Target=target({"from": "schedule"}),
    FlexibleTimeWindow=OFF,
    Description="ticks",
)["ScheduleArn"]
assert arn == "arn:aws:scheduler:us-east-1:123456789012:schedule/default/every-minute", arn
call(
    "create_schedule",
    Name="off",
    ScheduleExpression="rate(1 minute)",
    Target=target({"from": "off"}),
    FlexibleTimeWindow=OFF,
    State="DISABLED",
)
# A one-time schedule 20 seconds from now (in New York time), deleted once it has fired.
ny = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=20)
ny = ny.astimezone(zoneinfo.ZoneInfo("America/New_York"))
call(
    "create_schedule",
    Name="once",
    ScheduleExpression=f"at({ny.strftime('%Y-%m-%dT%H:%M:%S')})",
    ScheduleExpressionTimezone="America/New_York",
    Target=target({"from": "once"}),
    FlexibleTimeWindow=OFF,
    ActionAfterCompletion="DELETE",
)
# The universal target: the input is the StartExecution request.
call(
    "create_schedule",
    Name="universal",
    ScheduleExpression="cron(0 9 ? * MON-FRI *)",
    ScheduleExpressionTimezone="Europe/Paris",
    Target=target(arn="arn:aws:scheduler:::aws-sdk:sfn:startExecution")
    | {"Input": json.dumps({"StateMachineArn": machine, "Input": "{}"})},
    FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
    StartDate=datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc),
)

got = call("get_schedule", Name="every-minute")
assert got["State"] == "ENABLED" and got["GroupName"] == "default" and got["Arn"] == arn, got
assert got["Description"] == "ticks" and got["ScheduleExpressionTimezone"] == "UTC", got
assert json.loads(got["Target"]["Input"]) == {"from": "schedule"}, got
assert got["FlexibleTimeWindow"] == OFF, got
assert abs(got["CreationDate"].timestamp() - created) < 5, got
u = call("get_schedule", Name="universal")
assert u["ScheduleExpressionTimezone"] == "Europe/Paris", u
assert u["StartDate"] == datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc), u["StartDate"]
assert u["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}, u

# A create retried with its ClientToken (as an SDK does after a lost answer) answers as the
# first did; another create of the name is a conflict.
retried = dict(Name="retried", ScheduleExpression="rate(1 hour)", Target=target(), FlexibleTimeWindow=OFF,
               State="DISABLED", ClientToken="token-1")
first = call("create_schedule", **retried)["ScheduleArn"]
assert call("create_schedule", **retried)["ScheduleArn"] == first
expect_error("ConflictException", "create_schedule", **(retried | {"ClientToken": "token-2"}))
call("delete_schedule", Name="retried")

# Errors, as AWS answers them.
expect_error("ConflictException", "create_schedule", Name="off", ScheduleExpression="rate(1 minute)",
             Target=target(), FlexibleTimeWindow=OFF)
expect_error("ResourceNotFoundException", "get_schedule", Name="nope")
expect_error("ResourceNotFoundException", "get_schedule", Name="off", GroupName="nope")
expect_error("ResourceNotFoundException", "delete_schedule", Name="nope")
msg = expect_error("ValidationException", "create_schedule", Name="bad", ScheduleExpression="cron(0 10 * * * *)",
                   Target=target(), FlexibleTimeWindow=OFF)
assert "cron(0 10 * * * *)" in msg, msg
expect_error("ValidationException", "create_schedule", Name="bad", ScheduleExpression="rate(1 minute)",
             ScheduleExpressionTimezone="Mars/Olympus", Target=target(), FlexibleTimeWindow=OFF)
expect_error("ValidationException", "create_schedule", Name="bad name!", ScheduleExpression="rate(1 minute)",
             Target=target(), FlexibleTimeWindow=OFF)
expect_error("ValidationException", "create_schedule", Name="bad", ScheduleExpression="rate(1 minute)",
             Target={"Arn": "arn:aws:sqs:us-east-1:123456789012:queue", "RoleArn": ROLE}, FlexibleTimeWindow=OFF)
expect_error("ValidationException", "create_schedule", Name="bad", ScheduleExpression="rate(1 minute)",
             Target=target(), FlexibleTimeWindow={"Mode": "FLEXIBLE"})
expect_error("ResourceNotFoundException", "create_schedule", Name="x", GroupName="nope",
             ScheduleExpression="rate(1 minute)", Target=target(), FlexibleTimeWindow=OFF)

# Listing: filters and pages.
names = [s["Name"] for s in call("list_schedules")["Schedules"]]
assert names == ["every-minute", "off", "once", "universal"], names
assert [s["Name"] for s in call("list_schedules", State="DISABLED")["Schedules"]] == ["off"]
assert [s["Name"] for s in call("list_schedules", NamePrefix="o")["Schedules"]] == ["off", "once"]
seen, token = [], None
while True:
    page = call("list_schedules", MaxResults=1, **({"NextToken": token} if token else {}))
    seen += [s["Name"] for s in page["Schedules"]]
    token = page.get("NextToken")
    if not token:
        break
assert seen == names, seen
summary = call("list_schedules", NamePrefix="every")["Schedules"][0]
assert summary["Target"] == {"Arn": machine} and summary["State"] == "ENABLED", summary
pages = list(scheduler.get_paginator("list_schedules").paginate(PaginationConfig={"PageSize": 2}))
assert sum(len(p["Schedules"]) for p in pages) == 4, pages

# Groups, their tags, and a group's deletion taking its schedules.
garn = call("create_schedule_group", Name="reports", Tags=[{"Key": "team", "Value": "data"}])["ScheduleGroupArn"]
assert garn == "arn:aws:scheduler:us-east-1:123456789012:schedule-group/reports", garn
expect_error("ConflictException", "create_schedule_group", Name="reports")
groups = [g["Name"] for g in call("list_schedule_groups")["ScheduleGroups"]]
assert groups == ["default", "reports"], groups
assert call("get_schedule_group", Name="reports")["State"] == "ACTIVE"
call("create_schedule", Name="nightly", GroupName="reports", ScheduleExpression="cron(0 2 * * ? *)",
     Target=target(), FlexibleTimeWindow=OFF)
assert [s["Name"] for s in call("list_schedules", GroupName="reports")["Schedules"]] == ["nightly"]
call("tag_resource", ResourceArn=garn, Tags=[{"Key": "env", "Value": "dev"}])
tags = {t["Key"]: t["Value"] for t in call("list_tags_for_resource", ResourceArn=garn)["Tags"]}
assert tags == {"team": "data", "env": "dev"}, tags
call("untag_resource", ResourceArn=garn, TagKeys=["team"])
assert call("list_tags_for_resource", ResourceArn=garn)["Tags"] == [{"Key": "env", "Value": "dev"}]
expect_error("ValidationException", "delete_schedule_group", Name="default")
call("delete_schedule_group", Name="reports")
expect_error("ResourceNotFoundException", "get_schedule_group", Name="reports")
expect_error("ResourceNotFoundException", "get_schedule", Name="nightly", GroupName="reports")

# An update keeps the creation date and changes what the next fire sends.
call("update_schedule", Name="off", ScheduleExpression="rate(2 minutes)", Target=target({"from": "still off"}),
     FlexibleTimeWindow=OFF, State="DISABLED")
off = call("get_schedule", Name="off")
assert off["ScheduleExpression"] == "rate(2 minutes)" and off["LastModificationDate"] >= off["CreationDate"], off
expect_error("ResourceNotFoundException", "update_schedule", Name="nope", ScheduleExpression="rate(1 minute)",
             Target=target(), FlexibleTimeWindow=OFF)


def executions():
    out = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
        out += page["executions"]
    return sorted(out, key=lambda e: e["startDate"])


# Real time: the rate schedule fires a minute after it was made, then each minute.
deadline = created + 135
while time.time() < deadline:
    time.sleep(2)
runs = executions()
ticks = [e for e in runs if e["name"].startswith("every-minute-")]
assert len(ticks) == 2, [e["name"] for e in runs]
for i, e in enumerate(ticks, start=1):
    late = e["startDate"].timestamp() - (created + 60 * i)
    assert -2 < late < 4, f"tick {i} started {late:.1f} s from its due time"
    d = sfn.describe_execution(executionArn=e["executionArn"])
    assert json.loads(d["input"]) == {"from": "schedule"}, d
    assert d["status"] == "SUCCEEDED", d
onces = [e for e in runs if e["name"].startswith("once-")]
assert len(onces) == 1, [e["name"] for e in runs]
assert json.loads(sfn.describe_execution(executionArn=onces[0]["executionArn"])["input"]) == {"from": "once"}
expect_error("ResourceNotFoundException", "get_schedule", Name="once")
assert not [e for e in runs if e["name"].startswith(("off-", "universal-"))], [e["name"] for e in runs]
assert len(runs) == 3, [e["name"] for e in runs]
print("ok: schedules")
