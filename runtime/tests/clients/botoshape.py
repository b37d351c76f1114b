"""Checks an SDK answer against botocore's model of its output shape: the answer an AWS SDK
would get from AWS has the required members, and no member of a type the model does not give.
Shared by the boto3 client scripts beside it, with the check that a call fails as AWS's would."""
import datetime

PY_TYPES = {
    "string": str,
    "timestamp": datetime.datetime,
    "integer": int,
    "long": int,
    "boolean": bool,
    "structure": dict,
    "list": list,
    "map": dict,
}


def check_shape(shape, value, where):
    """The value has the shape botocore's model gives: required members, member types."""
    want = PY_TYPES.get(shape.type_name)
    assert want is None or isinstance(value, want), f"{where}: {value!r} is not a {shape.type_name}"
    if shape.type_name == "structure":
        for name in shape.required_members:
            assert name in value, f"{where}: required member {name} missing from {value!r}"
        for name, v in value.items():
            if name == "ResponseMetadata":
                continue
            assert name in shape.members, f"{where}: {name} is not a member of {shape.name}"
            check_shape(shape.members[name], v, f"{where}.{name}")
    elif shape.type_name == "list":
        for i, v in enumerate(value):
            check_shape(shape.member, v, f"{where}[{i}]")


def expect_error(client, code, op, **kwargs):
    """Calls op (its Python name) on client, which must fail with the error code; the message."""
    try:
        getattr(client, op)(**kwargs)
    except client.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"{op}: wanted {code}, got {got}: {e}"
        return e.response["Error"].get("Message", "")
    raise AssertionError(f"{op} should have failed with {code}")


class Checked:
    """A boto3 Step Functions client of a daemon at `endpoint` (no retries, no host prefix)
    whose every answer is checked against botocore's model of the operation's output."""

    def __init__(self, endpoint):
        import boto3
        from botocore.config import Config

        self.endpoint = endpoint
        self.client = boto3.client(
            "stepfunctions",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(inject_host_prefix=False, retries={"max_attempts": 1}),
        )
        self.model = self.client.meta.service_model

    def call(self, op, **kwargs):
        """Calls op (its Python name); the answer, checked."""
        answer = getattr(self.client, op)(**kwargs)
        name = self.client.meta.method_to_api_mapping[op]
        check_shape(self.model.operation_model(name).output_shape, answer, op)
        return answer

    def expect_error(self, code, op, **kwargs):
        return expect_error(self.client, code, op, **kwargs)

    def wait(self, arn, limit=60):
        """DescribeExecution once the execution is no longer RUNNING."""
        import time

        t0 = time.time()
        while time.time() - t0 < limit:
            d = self.call("describe_execution", executionArn=arn)
            if d["status"] != "RUNNING":
                return d
            time.sleep(0.05)
        raise AssertionError(f"{arn} still running after {limit} s")

    def handler_calls(self, handler):
        """How many times the daemon has called `handler` (every outcome), from /metrics."""
        import re
        import urllib.request

        text = urllib.request.urlopen(self.endpoint + "/metrics").read().decode()
        pattern = r'^wasmstep_task_invocations_total\{handler="' + re.escape(handler) + r'",outcome="[a-z_]+"\} (\d+)'
        return sum(int(n) for n in re.findall(pattern, text, re.M))
