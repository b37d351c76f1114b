#!/usr/bin/env python3
"""Hot-reload latency: from a file's change to new executions using it, against a real daemon.

Starts `wasmstep serve` (release) on fresh directories, then ROUNDS times each:
  - handler, fresh module: greeting v1/v2 alternately, each with a unique custom section so the
    bytes (and the SHA-256 the compile cache is keyed by) are new: a real compile every time;
  - handler, known module: v1/v2 alternately as built (the compile cache answers);
  - definition: a Pass state's Result edited.
Each change is deployed by write-then-rename; the clock runs until a new execution started after
the change returns the new result. Prints p50/p90/max per kind and the daemon's own load
(read + validate + compile) times from /metrics.

    usage: python3 runtime/benches/reload/latency.py BINARY PLUGINS_DIR [ROUNDS=20]
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:"


def leb128(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def with_custom_section(module, tag):
    """The same module with a custom section appended: new bytes, same behaviour."""
    name = b"wasmstep-bench"
    body = leb128(len(name)) + name + tag.encode()
    return module + b"\x00" + leb128(len(body)) + body


def deploy(path, data):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


class Daemon:
    def __init__(self, binary, plugins, defs, data):
        self.log = open(os.path.join(data, "log"), "w+")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data,
             "--plugins", plugins, "--definitions", defs],
            # A cache of its own: the fresh modules compiled here do not pile up in the user's.
            stderr=self.log, env={**os.environ, "NO_COLOR": "1", "XDG_CACHE_HOME": os.path.join(data, "cache")})
        deadline = time.time() + 120
        while time.time() < deadline:
            m = re.search(r"listen=(\S+)", open(self.log.name).read())
            if m:
                self.url = "http://" + m.group(1)
                return
            time.sleep(0.05)
        raise SystemExit("the daemon did not start; log: " + open(self.log.name).read())

    def call(self, action, body):
        req = urllib.request.Request(self.url, json.dumps(body).encode(), {
            "content-type": "application/x-amz-json-1.0",
            "x-amz-target": "AWSStepFunctions." + action})
        with urllib.request.urlopen(req) as r:
            return json.load(r)

    def run(self, machine, data):
        arn = self.call("StartExecution", {"stateMachineArn": ARN + machine,
                                           "input": json.dumps(data)})["executionArn"]
        while True:
            d = self.call("DescribeExecution", {"executionArn": arn})
            if d["status"] != "RUNNING":
                return json.loads(d.get("output") or "null")
            time.sleep(0.001)

    def metrics(self):
        with urllib.request.urlopen(self.url + "/metrics") as r:
            return r.read().decode()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def until(probe, expected):
    t0 = time.perf_counter()
    while probe() != expected:
        if time.perf_counter() - t0 > 60:
            raise SystemExit("the change never took effect")
    return (time.perf_counter() - t0) * 1000


def summary(name, ms):
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    print(f"{name:34} p50 {statistics.median(ms):7.1f} ms   p90 {p90:7.1f} ms   max {ms[-1]:7.1f} ms   (n={len(ms)})")


def main():
    binary, plugins_out = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    releases = [open(os.path.join(plugins_out, f"versions/greeting_v{v}.wasm"), "rb").read() for v in (1, 2)]
    root = tempfile.mkdtemp(prefix="wasmstep-reload-bench-")
    plugins, defs, data = (os.path.join(root, d) for d in ("plugins", "defs", "data"))
    for d in (plugins, defs, data):
        os.makedirs(d)
    module = os.path.join(plugins, "greeting.wasm")
    flow = os.path.join(defs, "flow.asl.json")
    deploy(module, releases[0])
    greet = {"StartAt": "G", "States": {"G": {"Type": "Task", "Resource": "wasm:greeting", "End": True}}}
    deploy(os.path.join(defs, "greet.asl.json"), json.dumps(greet).encode())

    def marked(k):
        return json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": k, "End": True}}}).encode()

    deploy(flow, marked(0))
    daemon = Daemon(binary, plugins, defs, data)
    try:
        version = lambda: daemon.run("greet", {"name": "bench"})["version"]
        fresh, known, definition = [], [], []
        stamp = time.time_ns()
        for i in range(1, rounds + 1):
            v = i % 2  # alternate so every change is visible: index 1 is v2
            deploy(module, with_custom_section(releases[v], f"{stamp}-{i}"))
            fresh.append(until(version, v + 1))
        last = rounds % 2  # serving now
        for v in (1 - last, last):  # not measured: compiles both releases once
            deploy(module, releases[v])
            until(version, v + 1)
        for i in range(1, rounds + 1):
            v = (rounds + i) % 2  # each differs from the one serving
            deploy(module, releases[v])
            known.append(until(version, v + 1))
        for i in range(1, rounds + 1):
            deploy(flow, marked(i))
            definition.append(until(lambda: daemon.run("flow", {}), i))
        print(f"change -> new executions use it ({rounds} rounds each; debounce 100 ms included):")
        summary("handler, new module (compiled)", fresh)
        summary("handler, module seen before", known)
        summary("definition edited", definition)
        m = daemon.metrics()
        for kind in ("plugin", "definition"):
            s = float(re.search(rf'wasmstep_reload_load_seconds_sum{{kind="{kind}"}} (\S+)', m).group(1))
            c = float(re.search(rf'wasmstep_reload_load_seconds_count{{kind="{kind}"}} (\S+)', m).group(1))
            print(f"daemon's load time (read, validate, compile), {kind}: mean {s / c * 1000:.1f} ms over {c:.0f} loads")
        loads = [float(x) for x in re.findall(r'kind="plugin".*?load_ms=(\S+) latency_ms', open(daemon.log.name).read())]
        if len(loads) == 2 * rounds + 2:
            summary("  of which load, new modules", loads[:rounds])
            summary("  of which load, known modules", loads[rounds + 2:])
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
