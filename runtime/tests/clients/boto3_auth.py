"""Authentication against a running wasmstep daemon that requires it, driven with boto3 as a
Step Functions user would: the right keys work, wrong ones get AWS's exceptions, and a policy
that allows only StartExecution on one state machine lets exactly that through. The EventBridge
Scheduler API beside it takes requests signed for `scheduler` (an ARN in the path included), and
the same policies (`scheduler:*` actions).

usage: python boto3_auth.py ENDPOINT_URL ADMIN_KEY ADMIN_SECRET OPS_KEY OPS_SECRET
Exits non-zero (with the reason) on the first thing that is not what AWS would return.
"""
import json
import sys
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, admin_key, admin_secret, ops_key, ops_secret = sys.argv[1:6]


def client(key, secret, service="stepfunctions"):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}),
    )


def error_code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError("the call succeeded")


# Unsigned: no Authorization header at all.
req = urllib.request.Request(
    endpoint,
    data=b"{}",
    headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AWSStepFunctions.ListStateMachines"},
)
try:
    urllib.request.urlopen(req)
    raise AssertionError("an unsigned request was served")
except urllib.error.HTTPError as e:
    body = json.loads(e.read())
    assert body["__type"] == "MissingAuthenticationTokenException", body

code = error_code(lambda: client(admin_key, admin_secret + "x").list_state_machines())
assert code == "InvalidSignatureException", code
code = error_code(lambda: client("AKIDNOBODY", admin_secret).list_state_machines())
assert code == "UnrecognizedClientException", code

admin = client(admin_key, admin_secret)
definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
role = "arn:aws:iam::123456789012:role/r"
orders = admin.create_state_machine(name="orders", definition=definition, roleArn=role)["stateMachineArn"]
other = admin.create_state_machine(name="other", definition=definition, roleArn=role)["stateMachineArn"]
names = sorted(m["name"] for m in admin.list_state_machines()["stateMachines"])
assert names == ["orders", "other"], names

ops = client(ops_key, ops_secret)
started = ops.start_execution(stateMachineArn=orders, input="{}")
assert started["executionArn"].endswith(started["executionArn"].split(":")[-1]), started
for denied in [
    lambda: ops.start_execution(stateMachineArn=other, input="{}"),
    lambda: ops.describe_execution(executionArn=started["executionArn"]),
    lambda: ops.list_state_machines(),
    lambda: ops.delete_state_machine(stateMachineArn=orders),
    lambda: ops.create_state_machine(name="mine", definition=definition, roleArn=role),
]:
    code = error_code(denied)
    assert code == "AccessDeniedException", code
# The admin (no policy: everything) sees what the ops key started.
d = admin.describe_execution(executionArn=started["executionArn"])
assert d["stateMachineArn"] == orders, d

# EventBridge Scheduler, signed for its own service name.
sched = client(admin_key, admin_secret, "scheduler")
group = sched.create_schedule_group(Name="signed", Tags=[{"Key": "k", "Value": "v"}])["ScheduleGroupArn"]
# The group's ARN travels in the path, URI-encoded: signed as AWS signs it.
assert sched.list_tags_for_resource(ResourceArn=group)["Tags"] == [{"Key": "k", "Value": "v"}]
sched.create_schedule(Name="tick", ScheduleExpression="rate(1 hour)", FlexibleTimeWindow={"Mode": "OFF"},
                      Target={"Arn": orders, "RoleArn": role})
assert [x["Name"] for x in sched.list_schedules()["Schedules"]] == ["tick"]
code = error_code(lambda: client(admin_key, admin_secret + "x", "scheduler").list_schedules())
assert code == "InvalidSignatureException", code
code = error_code(lambda: client(ops_key, ops_secret, "scheduler").list_schedules())
assert code == "AccessDeniedException", code
print("boto3 auth: ok")
