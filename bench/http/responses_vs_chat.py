#!/usr/bin/env python3
"""The Responses API's wire format against chat completions: the same conversation (so the same
prompt tokens and, greedy, the same output tokens) sent N times one after another on one
keep-alive connection to /v1/chat/completions and to /v1/responses, whole and streamed. Prints
per path: output tokens per request, bytes answered, end-to-end p50 / p90 in ms.

    bench/http/responses_vs_chat.py [BUILD_DIR] [MODEL_DIR] [N]

Raw http.client (no openai package): the figures are the daemon's, not a client library's.
"""
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build/default"
model = sys.argv[2] if len(sys.argv) > 2 else "models/minimax-m2-tiny/bf16"
n = int(sys.argv[3]) if len(sys.argv) > 3 else 40

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
run_dir = tempfile.mkdtemp(prefix="mmd-respbench-")
log = open(os.path.join(run_dir, "mmd.log"), "w")
daemon = subprocess.Popen(
    [os.path.join(build, "daemon", "mmd"), "--model", model, "--socket",
     os.path.join(run_dir, "mmd.sock"), "--bus", "none", "--port", str(port), "--threads", "1",
     "--kv-cache-dtype", "bfloat16", "--reasoning-parser", "minimax_m2",
     "--enable-auto-tool-choice", "--tool-call-parser", "minimax_m2", "--log-level", "warning"],
    stdout=log, stderr=subprocess.STDOUT)
try:
    conn = None
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", "/health")
            if conn.getresponse().read() and True:
                break
        except OSError:
            time.sleep(0.1)
    question = "What's the weather in Paris for the next 3 days?"
    tool = {"name": "get_weather", "description": "Get the weather forecast for a city.",
            "parameters": {"type": "object", "required": ["city"],
                           "properties": {"city": {"type": "string"}}}}
    bodies = {
        "chat": {"messages": [{"role": "user", "content": question}], "max_tokens": 128,
                 "temperature": 0, "tools": [{"type": "function", "function": tool}]},
        "responses": {"input": question, "max_output_tokens": 128, "temperature": 0,
                      "tools": [{"type": "function", **tool}]},
    }
    paths = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}
    print(f"{'path':<10} {'stream':<6} {'out tok':>7} {'bytes':>7} {'p50 ms':>7} {'p90 ms':>7}")
    for stream in (False, True):
        for name in ("chat", "responses"):
            body = dict(bodies[name], stream=stream)
            if stream and name == "chat":
                body["stream_options"] = {"include_usage": True}
            data = json.dumps(body).encode()
            times, size, tokens = [], 0, 0
            for i in range(n + 3):  # 3 warm-up requests
                start = time.perf_counter()
                conn.request("POST", paths[name], data, {"Content-Type": "application/json"})
                answer = conn.getresponse().read()
                elapsed = time.perf_counter() - start
                if i < 3:
                    continue
                times.append(elapsed * 1000)
                size = len(answer)
                text = answer.decode()
                if stream:
                    last = [line for line in text.split("\n") if line.startswith("data: {")][-1]
                    usage = json.loads(last[6:]).get("usage") or \
                        json.loads(last[6:])["response"]["usage"]
                else:
                    usage = json.loads(text)["usage"]
                tokens = usage.get("completion_tokens", usage.get("output_tokens"))
            q = statistics.quantiles(times, n=10)
            print(f"{name:<10} {str(stream):<6} {tokens:>7} {size:>7} "
                  f"{statistics.median(times):>7.2f} {q[8]:>7.2f}")
finally:
    daemon.terminate()
    daemon.wait(timeout=30)
