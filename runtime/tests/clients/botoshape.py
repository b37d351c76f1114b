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
