"""An activity worker for the 'review' activity, with nothing but boto3: poll, heartbeat, answer.

usage: python worker.py [--endpoint URL] [--name NAME] [--max-tasks N] [--work-ms MS]

A document is approved with its word count, or rejected (Review.Rejected) when it still says
TODO. Any Step Functions endpoint works: wasmstep's (the default, 127.0.0.1:8083) or AWS's.
"""
import argparse
import json
import os
import time

import boto3
from botocore.config import Config

ACTIVITY = "review"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", default=os.environ.get("WASMSTEP_ENDPOINT", "http://127.0.0.1:8083"))
    p.add_argument("--name", default=f"py-{os.getpid()}")
    p.add_argument("--max-tasks", type=int, default=0, help="stop after this many tasks (0: never)")
    p.add_argument("--work-ms", type=int, default=0, help="time each review takes")
    args = p.parse_args()
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=args.endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        config=Config(read_timeout=70),  # the long poll takes up to 60 s
    )
    # CreateActivity is idempotent: every worker may make sure the activity exists.
    arn = sfn.create_activity(name=ACTIVITY)["activityArn"]
    done = 0
    while args.max_tasks == 0 or done < args.max_tasks:
        task = sfn.get_activity_task(activityArn=arn, workerName=args.name)
        token = task.get("taskToken")
        if not token:
            continue  # the long poll ended without a task: poll again
        document = json.loads(task["input"])
        sfn.send_task_heartbeat(taskToken=token)
        time.sleep(args.work_ms / 1000)
        if "TODO" in document.get("text", ""):
            sfn.send_task_failure(taskToken=token, error="Review.Rejected", cause=f"{document['id']} still says TODO")
        else:
            verdict = {"id": document["id"], "verdict": "approved", "words": len(document.get("text", "").split()), "reviewer": args.name}
            sfn.send_task_success(taskToken=token, output=json.dumps(verdict))
        done += 1
        print(f"{args.name}: reviewed {document['id']}", flush=True)


if __name__ == "__main__":
    main()
