-- wrk script: StartExecution against a running daemon (see README, Benchmarks).
-- Each request starts a new execution (no name: the daemon assigns one) of the `http-bench`
-- state machine, which benches/http/run.sh creates first.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
wrk.headers["X-Amz-Target"] = "AWSStepFunctions.StartExecution"
wrk.body = '{"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:http-bench", "input": "{\\"a\\": 1, \\"b\\": 2}"}'

local errors = 0
response = function(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
    if errors <= 3 then print("HTTP " .. status .. ": " .. body) end
  end
end
