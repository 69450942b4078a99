#!/usr/bin/env python3
"""Anthropic's Messages API wire format against chat completions: the same conversation (so the
same prompt tokens and, greedy, the same output tokens) sent N times one after another on one
keep-alive connection to /v1/chat/completions and to /v1/messages, whole and streamed, then
/v1/messages/count_tokens against /tokenize. Prints per path: output tokens per request, bytes
answered, end-to-end p50 / p90 in ms.

    bench/http/messages_vs_chat.py [BUILD_DIR] [MODEL_DIR] [N]

Raw http.client (no client library): the figures are the daemon's.
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
run_dir = tempfile.mkdtemp(prefix="mmd-msgbench-")
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
            if conn.getresponse().read():
                break
        except OSError:
            time.sleep(0.1)
    question = "What's the weather in Paris for the next 3 days?"
    schema = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
    description = "Get the weather forecast for a city."
    bodies = {
        "chat": {"messages": [{"role": "user", "content": question}], "max_tokens": 128,
                 "temperature": 0, "tools": [{"type": "function", "function": {
                     "name": "get_weather", "description": description, "parameters": schema}}]},
        "messages": {"model": os.path.basename(model.rstrip("/")),
                     "messages": [{"role": "user", "content": question}], "max_tokens": 128,
                     "temperature": 0, "tools": [{"name": "get_weather",
                                                  "description": description,
                                                  "input_schema": schema}]},
    }
    paths = {"chat": "/v1/chat/completions", "messages": "/v1/messages"}

    def timed(path, data, count):
        times, answer = [], b""
        for i in range(count + 3):  # 3 warm-up requests
            start = time.perf_counter()
            conn.request("POST", path, data, {"Content-Type": "application/json"})
            answer = conn.getresponse().read()
            if i >= 3:
                times.append((time.perf_counter() - start) * 1000)
        return times, answer

    print(f"{'path':<12} {'stream':<6} {'out tok':>7} {'bytes':>7} {'p50 ms':>7} {'p90 ms':>7}")
    for stream in (False, True):
        for name in ("chat", "messages"):
            body = dict(bodies[name], stream=stream)
            if stream and name == "chat":
                body["stream_options"] = {"include_usage": True}
            times, answer = timed(paths[name], json.dumps(body).encode(), n)
            text = answer.decode()
            if stream:
                last = [line for line in text.split("\n") if line.startswith("data: {")]
                usage = next(json.loads(line[6:])["usage"] for line in reversed(last)
                             if json.loads(line[6:]).get("usage"))
            else:
                usage = json.loads(text)["usage"]
            tokens = usage.get("completion_tokens", usage.get("output_tokens"))
            q = statistics.quantiles(times, n=10)
            print(f"{name:<12} {str(stream):<6} {tokens:>7} {len(answer):>7} "
                  f"{statistics.median(times):>7.2f} {q[8]:>7.2f}")
    # Counting: the prompt rendered and tokenized, nothing generated.
    count = {k: bodies["messages"][k] for k in ("model", "messages", "tools")}
    tokenize = {"messages": bodies["chat"]["messages"], "tools": bodies["chat"]["tools"]}
    for name, path, body in (("tokenize", "/tokenize", tokenize),
                             ("count_tokens", "/v1/messages/count_tokens", count)):
        times, answer = timed(path, json.dumps(body).encode(), n)
        q = statistics.quantiles(times, n=10)
        print(f"{name:<12} {'-':<6} {'-':>7} {len(answer):>7} "
              f"{statistics.median(times):>7.2f} {q[8]:>7.2f}")
finally:
    daemon.terminate()
    daemon.wait(timeout=30)
