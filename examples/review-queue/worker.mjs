// An activity worker for the 'review' activity, with nothing but the AWS SDK for JavaScript v3
// (@aws-sdk/client-sfn): poll, heartbeat, answer.
//
// usage: node worker.mjs [--endpoint URL] [--name NAME] [--max-tasks N] [--work-ms MS]
//
// A document is approved with its word count, or rejected (Review.Rejected) when it still says
// TODO. Any Step Functions endpoint works: wasmstep's (the default, 127.0.0.1:8083) or AWS's.
import {
  CreateActivityCommand,
  GetActivityTaskCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
} from "@aws-sdk/client-sfn";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    endpoint: { type: "string", default: process.env.WASMSTEP_ENDPOINT ?? "http://127.0.0.1:8083" },
    name: { type: "string", default: `js-${process.pid}` },
    "max-tasks": { type: "string", default: "0" },
    "work-ms": { type: "string", default: "0" },
  },
});
const maxTasks = Number(args["max-tasks"]);
const workMs = Number(args["work-ms"]);

const sfn = new SFNClient({
  endpoint: args.endpoint,
  region: process.env.AWS_DEFAULT_REGION ?? "us-east-1",
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "test",
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "test",
  },
});

// CreateActivity is idempotent: every worker may make sure the activity exists.
const { activityArn } = await sfn.send(new CreateActivityCommand({ name: "review" }));
for (let done = 0; maxTasks === 0 || done < maxTasks; ) {
  const task = await sfn.send(new GetActivityTaskCommand({ activityArn, workerName: args.name }));
  if (!task.taskToken) continue; // the long poll ended without a task: poll again
  const taskToken = task.taskToken;
  const document = JSON.parse(task.input);
  await sfn.send(new SendTaskHeartbeatCommand({ taskToken }));
  await new Promise((resolve) => setTimeout(resolve, workMs));
  const text = document.text ?? "";
  if (text.includes("TODO")) {
    await sfn.send(
      new SendTaskFailureCommand({ taskToken, error: "Review.Rejected", cause: `${document.id} still says TODO` }),
    );
  } else {
    const words = text.split(/\s+/).filter(Boolean).length;
    const verdict = { id: document.id, verdict: "approved", words, reviewer: args.name };
    await sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(verdict) }));
  }
  done += 1;
  console.log(`${args.name}: reviewed ${document.id}`);
}
