"""Writes model.json (and scheduler.json): the input shapes of the Step Functions (and
EventBridge Scheduler) operations wasmstep serves, taken from botocore's service models (the
same files every AWS SDK is generated from), so requests are checked exactly as AWS checks them.
Run with a Python that has botocore:

    python3 runtime/src/daemon/api/model/trim.py > runtime/src/daemon/api/model/model.json
    python3 runtime/src/daemon/api/model/trim.py scheduler > runtime/src/daemon/api/model/scheduler.json

runtime/tests/api_model.rs runs it again and fails when the committed file differs.
"""

import json
import sys

import botocore.session

# The operations the daemon answers (runtime/src/daemon/api/actions.rs).
OPERATIONS = [
    "CreateActivity",
    "CreateStateMachine",
    "CreateStateMachineAlias",
    "DeleteActivity",
    "DeleteStateMachine",
    "DeleteStateMachineAlias",
    "DeleteStateMachineVersion",
    "DescribeActivity",
    "DescribeExecution",
    "DescribeMapRun",
    "DescribeStateMachine",
    "DescribeStateMachineAlias",
    "DescribeStateMachineForExecution",
    "GetActivityTask",
    "GetExecutionHistory",
    "ListActivities",
    "ListExecutions",
    "ListMapRuns",
    "ListStateMachineAliases",
    "ListStateMachineVersions",
    "ListStateMachines",
    "ListTagsForResource",
    "PublishStateMachineVersion",
    "RedriveExecution",
    "SendTaskFailure",
    "SendTaskHeartbeat",
    "SendTaskSuccess",
    "StartExecution",
    "StartSyncExecution",
    "StopExecution",
    "TagResource",
    "UntagResource",
    "UpdateMapRun",
    "UpdateStateMachine",
    "UpdateStateMachineAlias",
    "ValidateStateMachineDefinition",
]

# The EventBridge Scheduler operations the daemon answers (runtime/src/daemon/api/scheduler.rs).
SCHEDULER_OPERATIONS = [
    "CreateSchedule",
    "CreateScheduleGroup",
    "DeleteSchedule",
    "DeleteScheduleGroup",
    "GetSchedule",
    "GetScheduleGroup",
    "ListScheduleGroups",
    "ListSchedules",
    "ListTagsForResource",
    "TagResource",
    "UntagResource",
    "UpdateSchedule",
]

SERVICES = {"stepfunctions": OPERATIONS, "scheduler": SCHEDULER_OPERATIONS}

KEEP = ("type", "min", "max", "enum", "required", "pattern")


def main():
    service = sys.argv[1] if len(sys.argv) > 1 else "stepfunctions"
    loader = botocore.session.get_session().get_component("data_loader")
    model = loader.load_service_model(service, "service-2")
    shapes = model["shapes"]
    out_shapes = {}

    def visit(name):
        if name in out_shapes:
            return
        s = shapes[name]
        t = {k: s[k] for k in KEEP if k in s}
        out_shapes[name] = t
        if "members" in s:
            t["members"] = {m: v["shape"] for m, v in s["members"].items()}
            for v in s["members"].values():
                visit(v["shape"])
        if "member" in s:
            t["member"] = s["member"]["shape"]
            visit(s["member"]["shape"])
        for k in ("key", "value"):
            if k in s:
                t[k] = s[k]["shape"]
                visit(s[k]["shape"])

    operations = {}
    for op in SERVICES[service]:
        shape = model["operations"][op]["input"]["shape"]
        operations[op] = shape
        visit(shape)
    json.dump(
        {"version": model["metadata"]["apiVersion"], "operations": operations, "shapes": out_shapes},
        sys.stdout,
        indent=1,
        sort_keys=True,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
