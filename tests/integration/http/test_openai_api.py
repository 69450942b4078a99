"""The OpenAI-compatible HTTP API of a real mmd on the bundled tiny model, driven by the
official `openai` Python package (and raw sockets where the wire format itself is the point).

Run by ctest with the test venv's python; MMD_BINARY_DIR and MMD_SOURCE_DIR name the build and
the source tree. Each class starts its own daemon on a free loopback port.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import openai

BUILD = os.environ["MMD_BINARY_DIR"]
SOURCE = os.environ["MMD_SOURCE_DIR"]
MMD = os.environ.get("MMD_DAEMON", os.path.join(BUILD, "daemon", "mmd"))
MMCTL = os.path.join(BUILD, "client", "mmctl", "mmctl")
MODEL = os.path.join(SOURCE, "models", "minimax-m2-tiny", "bf16")


def tool(name, description, properties, required):
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required}}}


# The tools the bundled model was trained with (tools/train/gen_data.py).
TOOLS = [
    tool("get_weather", "Get the weather forecast for a city.", {
        "city": {"type": "string", "description": "City name"},
        "days": {"type": "integer", "description": "Number of forecast days"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, ["city"]),
    tool("get_time", "Get the current local time in a time zone.", {
        "timezone": {"type": "string", "description": "IANA time zone"}}, ["timezone"]),
    tool("set_reminder", "Set a reminder.", {
        "text": {"type": "string"}, "minutes": {"type": "integer"},
        "urgent": {"type": "boolean"}}, ["text", "minutes"]),
]
TOOL_NAMES = {t["function"]["name"] for t in TOOLS}
TOOL_PROMPT = [{"role": "user", "content": "Set a reminder to take a break in 20 minutes."}]
CHAT = [{"role": "user", "content": "Tell me a fortune."}]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, *extra, model=MODEL):
        self.dir = tempfile.mkdtemp(prefix="mmd-http-")
        self.port = free_port()
        self.socket = os.path.join(self.dir, "mmd.sock")
        self.log = open(os.path.join(self.dir, "mmd.log"), "w+")
        self.proc = subprocess.Popen(
            [MMD, "--model", model, "--socket", self.socket, "--bus", "none",
             "--port", str(self.port), "--threads", "1", "--kv-cache-dtype", "float32",
             "--reasoning-parser", "minimax_m2", "--enable-auto-tool-choice",
             "--tool-call-parser", "minimax_m2", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mmd exited: " + self.log_text())
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("mmd did not become ready: " + self.log_text())

    def log_text(self):
        self.log.seek(0)
        return self.log.read()

    def request(self, method, path, body=None, headers=None):
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read().decode(), dict(resp.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), dict(error.headers)

    def get(self, path):
        return self.request("GET", path)

    def raw(self, payload, read_until_close=True):
        """Sends bytes on a fresh connection; returns everything the daemon answers."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(payload)
            chunks = []
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
                if not read_until_close and b"\r\n\r\n" in b"".join(chunks):
                    break
            return b"".join(chunks)

    def metric(self, name):
        status, text, _ = self.get("/metrics")
        assert status == 200
        for line in text.splitlines():
            if line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} not in /metrics")

    def stop(self):
        """SIGTERM: the daemon drains and must exit 0 (a sanitizer report would make it fail)."""
        self.proc.terminate()
        code = self.proc.wait(timeout=30)
        text = self.log_text()
        self.log.close()
        if code != 0 or "Sanitizer" in text:
            raise AssertionError(f"mmd exited with {code}:\n{text[-4000:]}")


class OpenAiApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon("--http-max-body-bytes", "65536")
        cls.client = openai.OpenAI(base_url=cls.daemon.url + "/v1", api_key="unused",
                                   max_retries=0, timeout=60)
        cls.model = "bf16"

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def assert_serving(self):
        self.assertEqual(self.daemon.get("/health")[0], 200)

    # ---- models, health, metrics, tokenize --------------------------------------------------

    def test_models_lists_the_served_model(self):
        models = self.client.models.list()
        self.assertEqual([m.id for m in models.data], [self.model])
        self.assertEqual(models.data[0].model_extra["max_model_len"], 4096)

    def test_tokenize_and_detokenize_round_trip(self):
        status, body, _ = self.daemon.request("POST", "/tokenize", {"prompt": "Hello there"})
        self.assertEqual(status, 200, body)
        tokens = json.loads(body)
        self.assertEqual(tokens["count"], len(tokens["tokens"]))
        status, body, _ = self.daemon.request("POST", "/detokenize", {"tokens": tokens["tokens"]})
        self.assertEqual(json.loads(body)["prompt"], "Hello there")

    def test_metrics_are_prometheus_text(self):
        self.client.chat.completions.create(model=self.model, messages=CHAT, max_tokens=4)
        status, text, headers = self.daemon.get("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        for name in ["mmd_num_requests_running", "mmd_num_requests_waiting",
                     "mmd_kv_cache_usage_perc", "mmd_prefix_cache_hit_rate",
                     "mmd_generation_tokens_total", "mmd_sleep_level",
                     "mmd_time_to_first_token_seconds_bucket",
                     "mmd_inter_token_latency_seconds_count",
                     "mmd_e2e_request_latency_seconds_sum"]:
            self.assertIn(name + "{", text)
        self.assertGreaterEqual(self.daemon.metric("mmd_generation_tokens_total"), 4)

    # ---- chat --------------------------------------------------------------------------------

    def test_chat_whole_response_with_reasoning_and_usage(self):
        r = self.client.chat.completions.create(model=self.model, messages=CHAT,
                                                max_tokens=80, temperature=0)
        choice = r.choices[0]
        self.assertEqual(choice.message.role, "assistant")
        self.assertIn(choice.finish_reason, ("stop", "length"))
        reasoning = choice.message.model_extra["reasoning_content"]
        self.assertTrue(reasoning)  # the model thinks first; the parser splits it out
        self.assertNotIn("</think>", choice.message.content or "")
        self.assertNotIn("</think>", reasoning)
        status, body, _ = self.daemon.request("POST", "/tokenize", {"messages": CHAT})
        self.assertEqual(r.usage.prompt_tokens, json.loads(body)["count"])
        self.assertEqual(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens)
        self.assertTrue(r.id.startswith("chatcmpl-"))

    def test_chat_stream_matches_whole_response(self):
        whole = self.client.chat.completions.create(model=self.model, messages=CHAT,
                                                    max_tokens=60, temperature=0)
        stream = self.client.chat.completions.create(
            model=self.model, messages=CHAT, max_tokens=60, temperature=0, stream=True,
            stream_options={"include_usage": True})
        content, reasoning, roles, finish, usage = "", "", [], None, None
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
                self.assertEqual(chunk.choices, [])
                continue
            delta = chunk.choices[0].delta
            if delta.role:
                roles.append(delta.role)
            content += delta.content or ""
            reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            finish = chunk.choices[0].finish_reason or finish
        self.assertEqual(roles, ["assistant"])
        self.assertEqual(content, whole.choices[0].message.content)
        self.assertEqual(reasoning, whole.choices[0].message.model_extra["reasoning_content"])
        self.assertEqual(finish, whole.choices[0].finish_reason)
        self.assertEqual(usage.completion_tokens, whole.usage.completion_tokens)

    def test_stop_string_ends_the_answer_before_it(self):
        whole = self.client.chat.completions.create(model=self.model, messages=CHAT,
                                                    max_tokens=80, temperature=0)
        reasoning = whole.choices[0].message.model_extra["reasoning_content"]
        words = reasoning.split()
        self.assertGreater(len(words), 3)
        stop = words[2]
        r = self.client.chat.completions.create(model=self.model, messages=CHAT, max_tokens=80,
                                                temperature=0, stop=[stop])
        self.assertEqual(r.choices[0].finish_reason, "stop")
        got = r.choices[0].message.model_extra["reasoning_content"] or ""
        self.assertNotIn(stop, got)
        self.assertTrue(reasoning.startswith(got))
        self.assertLess(r.usage.completion_tokens, whole.usage.completion_tokens)

    def test_seed_reproduces_a_sampled_answer(self):
        def sample(seed):
            r = self.client.chat.completions.create(model=self.model, messages=CHAT,
                                                    max_tokens=80, temperature=1.0, seed=seed)
            message = r.choices[0].message
            return (message.model_extra["reasoning_content"] or "") + (message.content or "")
        first = sample(1234)
        self.assertEqual(sample(1234), first)
        # Five other seeds all reproducing the same 80 sampled tokens would mean the seed is
        # ignored: the reasoning before a fortune is nearly fixed, but which fortune it quotes
        # is not.
        self.assertTrue(any(sample(s) != first for s in range(5)))

    def test_logprobs_cover_every_token_with_sorted_alternatives(self):
        r = self.client.chat.completions.create(model=self.model, messages=CHAT, max_tokens=12,
                                                temperature=0, logprobs=True, top_logprobs=3)
        entries = r.choices[0].logprobs.content
        self.assertEqual(len(entries), r.usage.completion_tokens)
        for entry in entries:
            self.assertEqual(len(entry.top_logprobs), 3)
            lps = [t.logprob for t in entry.top_logprobs]
            self.assertEqual(lps, sorted(lps, reverse=True))
            self.assertLessEqual(entry.logprob, 0.0)
            # Greedy: the chosen token is the most likely one.
            self.assertAlmostEqual(entry.logprob, lps[0], places=5)
            self.assertEqual(bytes(entry.bytes).decode("utf-8", "replace"), entry.token)

    # ---- tools -------------------------------------------------------------------------------

    def test_tool_call_is_parsed_into_tool_calls(self):
        r = self.client.chat.completions.create(model=self.model, messages=TOOL_PROMPT,
                                                tools=TOOLS, max_tokens=120, temperature=0)
        choice = r.choices[0]
        self.assertEqual(choice.finish_reason, "tool_calls", choice.message)
        call = choice.message.tool_calls[0]
        self.assertIn(call.function.name, TOOL_NAMES)
        self.assertIsInstance(json.loads(call.function.arguments), dict)
        self.assertTrue(call.id)
        self.assertNotIn("<minimax:tool_call>", choice.message.content or "")

        stream = self.client.chat.completions.create(model=self.model, messages=TOOL_PROMPT,
                                                     tools=TOOLS, max_tokens=120, temperature=0,
                                                     stream=True)
        names, arguments, ids, finish = {}, {}, {}, None
        for chunk in stream:
            for delta in chunk.choices[0].delta.tool_calls or []:
                if delta.function.name:
                    names[delta.index] = delta.function.name
                    ids[delta.index] = delta.id
                arguments[delta.index] = arguments.get(delta.index, "") + (
                    delta.function.arguments or "")
            finish = chunk.choices[0].finish_reason or finish
        self.assertEqual(finish, "tool_calls")
        self.assertEqual(names[0], call.function.name)
        self.assertEqual(json.loads(arguments[0]), json.loads(call.function.arguments))

    def test_tool_call_arguments_are_copied_and_typed_by_the_schema(self):
        # The bundled model copies arguments from the request (model card: 84 % of held-out
        # tool prompts); the parser types each by the tool's JSON schema: int, bool, string.
        for prompt, name, arguments in [
                ("Set a reminder to take a break in 20 minutes.", "set_reminder",
                 {"text": "take a break", "minutes": 20}),
                ("What's the weather in Paris for the next 3 days?", "get_weather",
                 {"city": "Paris", "days": 3}),
                ("Remind me to call mom in 45 minutes, it's urgent.", "set_reminder",
                 {"text": "call mom", "minutes": 45, "urgent": True})]:
            r = self.client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": prompt}], tools=TOOLS,
                max_tokens=150, temperature=0)
            calls = r.choices[0].message.tool_calls
            self.assertEqual(len(calls), 1, prompt)
            self.assertEqual(calls[0].function.name, name)
            got = json.loads(calls[0].function.arguments)
            self.assertEqual(got, arguments)
            for key, value in arguments.items():
                self.assertIs(type(got[key]), type(value), key)

    def test_named_tool_choice_forces_that_tool(self):
        r = self.client.chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": "Hello!"}], tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            max_tokens=60, temperature=0)
        self.assertEqual(r.choices[0].message.tool_calls[0].function.name, "get_weather")
        self.assertEqual(r.choices[0].finish_reason, "tool_calls")

    def test_tool_choice_none_renders_no_tools(self):
        with_tools = self.client.chat.completions.create(
            model=self.model, messages=TOOL_PROMPT, tools=TOOLS, tool_choice="none", max_tokens=1)
        without = self.client.chat.completions.create(model=self.model, messages=TOOL_PROMPT,
                                                      max_tokens=1)
        self.assertEqual(with_tools.usage.prompt_tokens, without.usage.prompt_tokens)

    # ---- completions -------------------------------------------------------------------------

    def test_completions_text_echo_token_ids_and_logprobs(self):
        r = self.client.completions.create(model=self.model, prompt="The weather in Paris",
                                           max_tokens=8, temperature=0)
        self.assertEqual(r.object, "text_completion")
        self.assertEqual(r.usage.completion_tokens, 8)
        self.assertEqual(r.choices[0].finish_reason, "length")
        echoed = self.client.completions.create(model=self.model, prompt="The weather in Paris",
                                                max_tokens=8, temperature=0, echo=True)
        self.assertEqual(echoed.choices[0].text, "The weather in Paris" + r.choices[0].text)
        ids = json.loads(self.daemon.request("POST", "/tokenize",
                                             {"prompt": "The weather in Paris"})[1])["tokens"]
        by_ids = self.client.completions.create(model=self.model, prompt=ids, max_tokens=8,
                                                temperature=0, logprobs=2)
        self.assertEqual(by_ids.choices[0].text, r.choices[0].text)
        lp = by_ids.choices[0].logprobs
        self.assertEqual(len(lp.tokens), 8)
        self.assertEqual("".join(lp.tokens), r.choices[0].text)
        self.assertTrue(all(len(t) == 2 for t in lp.top_logprobs))
        self.assertEqual(lp.text_offset[0], 0)
        streamed = "".join(c.choices[0].text for c in self.client.completions.create(
            model=self.model, prompt="The weather in Paris", max_tokens=8, temperature=0,
            stream=True))
        self.assertEqual(streamed, r.choices[0].text)

    # ---- errors ------------------------------------------------------------------------------

    def test_bad_requests_are_4xx_in_vllm_shape_and_serving_continues(self):
        cases = [
            (dict(n=2), "'n'"),
            (dict(temperature="hot"), "'temperature' must be a number"),
            (dict(extra_body={"bogus_field": 1}), "unknown field 'bogus_field'"),
            (dict(max_tokens=0), "'max_tokens'"),
            (dict(top_logprobs=3), "top_logprobs"),
        ]
        for kwargs, needle in cases:
            with self.assertRaises(openai.BadRequestError, msg=str(kwargs)) as ctx:
                self.client.chat.completions.create(model=self.model, messages=CHAT, **kwargs)
            self.assertEqual(ctx.exception.status_code, 400)
            error = ctx.exception.body
            self.assertIn(needle, error["message"])
            self.assertEqual(error["type"], "BadRequestError")
            self.assertEqual(error["code"], 400)
        with self.assertRaises(openai.NotFoundError):
            self.client.chat.completions.create(model="no-such-model", messages=CHAT)
        with self.assertRaises(openai.BadRequestError):
            self.client.chat.completions.create(model=self.model,
                                                messages=[{"role": "wizard", "content": "x"}])
        self.assert_serving()

    def test_malformed_json_names_the_byte_offset(self):
        status, body, _ = self.daemon.request("POST", "/v1/chat/completions",
                                              b'{"messages": [}', {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertIn("at byte", json.loads(body)["error"]["message"])
        status, body, _ = self.daemon.request("POST", "/v1/chat/completions", b"[1,2]")
        self.assertEqual(status, 400)
        self.assert_serving()

    def test_oversize_body_is_413(self):
        big = json.dumps({"messages": [{"role": "user", "content": "x" * 70000}]}).encode()
        status, body, _ = self.daemon.request("POST", "/v1/chat/completions", big)
        self.assertEqual(status, 413)
        self.assertIn("65536", json.loads(body)["error"]["message"])
        self.assert_serving()

    def test_garbage_bytes_get_400_and_the_connection_closes(self):
        answer = self.daemon.raw(b"NOT HTTP AT ALL\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:80])
        self.assertIn(b"Connection: close", answer)
        self.assert_serving()

    def test_unknown_route_is_404_and_wrong_method_405(self):
        self.assertEqual(self.daemon.get("/v1/nothing")[0], 404)
        self.assertEqual(self.daemon.get("/v1/chat/completions")[0], 405)

    # ---- the wire ----------------------------------------------------------------------------

    def test_sse_framing_on_the_wire(self):
        body = json.dumps({"messages": CHAT, "max_tokens": 6, "stream": True}).encode()
        answer = self.daemon.raw(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\n\r\n" + body)
        head, _, rest = answer.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Type: text/event-stream", head)
        self.assertIn(b"Transfer-Encoding: chunked", head)
        # Undo the chunked framing, then check the event stream itself.
        payload = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            payload += rest[:size]
            self.assertEqual(rest[size:size + 2], b"\r\n")
            rest = rest[size + 2:]
        events = payload.decode().split("\n\n")
        self.assertEqual(events[-1], "")
        self.assertEqual(events[-2], "data: [DONE]")
        for event in events[:-2]:
            self.assertTrue(event.startswith("data: {"), event)
            json.loads(event[len("data: "):])

    def test_curl_reads_the_event_stream(self):
        body = json.dumps({"messages": CHAT, "max_tokens": 6, "stream": True})
        out = subprocess.run(
            ["curl", "-sS", "-N", "--fail-with-body", "-H", "Content-Type: application/json",
             "-d", body, self.daemon.url + "/v1/chat/completions"],
            capture_output=True, text=True, timeout=60, check=True).stdout
        lines = out.split("\n")
        events = [line for line in lines if line]
        self.assertEqual(events[-1], "data: [DONE]")
        self.assertTrue(all(e.startswith("data: ") for e in events))
        # Every event is followed by exactly one blank line.
        self.assertEqual(lines.count(""), len(events) + 1)
        chunks = [json.loads(e[6:]) for e in events[:-1]]
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        self.assertIsNotNone(chunks[-1]["choices"][0]["finish_reason"])

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        body = json.dumps({"prompt": "Hi", "max_tokens": 2}).encode()
        one = (b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
               str(len(body)).encode() + b"\r\n\r\n" + body)
        closing = one.replace(b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\r\nConnection: close\r\n")
        answer = self.daemon.raw(one + one + closing)  # pipelined
        self.assertEqual(answer.count(b"HTTP/1.1 200 OK"), 3)

    def test_client_that_disconnects_cancels_its_request(self):
        body = json.dumps({"messages": CHAT, "max_tokens": 3000, "stream": True,
                           "ignore_eos": True}).encode()
        before = self.daemon.metric("mmd_generation_tokens_total")
        with socket.create_connection(("127.0.0.1", self.daemon.port)) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                      str(len(body)).encode() + b"\r\n\r\n" + body)
            self.assertIn(b"200 OK", s.recv(4096))
        deadline = time.time() + 20
        while self.daemon.metric("mmd_num_requests_running") > 0 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.daemon.metric("mmd_num_requests_running"), 0)
        generated = self.daemon.metric("mmd_generation_tokens_total") - before
        self.assertLess(generated, 3000)
        self.assertIn("cancelled: the client disconnected", self.daemon.log_text())


class HealthAndKeyTest(unittest.TestCase):
    """A daemon with an API key and CORS: /v1 needs the key, /health and /metrics do not; a
    health check never wakes a sleeping engine."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon("--api-key", "sesame", "--allowed-origins", "http://ui.example")

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def test_api_key_is_required_on_v1(self):
        bad = openai.OpenAI(base_url=self.daemon.url + "/v1", api_key="wrong", max_retries=0)
        with self.assertRaises(openai.AuthenticationError):
            bad.models.list()
        good = openai.OpenAI(base_url=self.daemon.url + "/v1", api_key="sesame", max_retries=0)
        self.assertEqual(len(good.models.list().data), 1)
        self.assertEqual(self.daemon.get("/health")[0], 200)
        self.assertEqual(self.daemon.get("/metrics")[0], 200)

    def test_cors_only_for_allowed_origins(self):
        _, _, headers = self.daemon.request("GET", "/health", headers={"Origin": "http://ui.example"})
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "http://ui.example")
        _, _, headers = self.daemon.request("GET", "/health", headers={"Origin": "http://evil.example"})
        self.assertNotIn("Access-Control-Allow-Origin", headers)

    def test_health_of_a_sleeping_daemon_does_not_wake_it(self):
        env = dict(os.environ, MMD_SOCKET=self.daemon.socket)
        subprocess.run([MMCTL, "sleep"], env=env, check=True, capture_output=True, timeout=60)
        for _ in range(3):
            status, body, _ = self.daemon.get("/health")
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body)["status"], "sleeping")
        self.assertEqual(self.daemon.metric("mmd_sleep_level"), 1)
        subprocess.run([MMCTL, "wake"], env=env, check=True, capture_output=True, timeout=60)
        self.assertEqual(json.loads(self.daemon.get("/health")[1])["status"], "ready")


class SaturatedEngineTest(unittest.TestCase):
    """--max-waiting-requests: with one sequence running and one waiting, the next request is
    refused with 429 in vLLM's error shape; the others are unaffected and serving goes on."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon("--max-num-seqs", "1", "--max-waiting-requests", "1")

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def open_stream(self, max_tokens):
        body = json.dumps({"messages": CHAT, "max_tokens": max_tokens, "stream": True,
                           "ignore_eos": True}).encode()
        s = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=30)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                  str(len(body)).encode() + b"\r\n\r\n" + body)
        return s

    def wait_metric(self, name, value):
        deadline = time.time() + 20
        while self.daemon.metric(name) != value and time.time() < deadline:
            time.sleep(0.002)
        self.assertEqual(self.daemon.metric(name), value, name)

    def test_third_request_is_429_and_the_first_two_are_served(self):
        # 4000 tokens keep the first request busy for far longer than these few round trips.
        running = self.open_stream(4000)
        self.wait_metric("mmd_num_requests_running", 1)
        waiting = self.open_stream(16)
        self.wait_metric("mmd_num_requests_waiting", 1)
        status, body, _ = self.daemon.request(
            "POST", "/v1/chat/completions", {"messages": CHAT, "max_tokens": 4})
        self.assertEqual(status, 429, body)
        error = json.loads(body)["error"]
        self.assertEqual(error["code"], 429)
        self.assertIn("too many requests waiting", error["message"])
        # The refused request took nothing from the two admitted ones: the running one streams
        # on (read some of it, then hang up: the daemon cancels it and frees its slot), and the
        # waiting one is admitted and streams to the end.
        data = b""
        while data.count(b"data: ") < 8:
            chunk = running.recv(1 << 16)
            self.assertTrue(chunk, "the running stream ended early")
            data += chunk
        self.assertIn(b"200 OK", data[:64])
        running.close()
        data = b""
        while b"data: [DONE]" not in data:
            chunk = waiting.recv(1 << 20)
            self.assertTrue(chunk, "stream ended before [DONE]")
            data += chunk
        waiting.close()
        self.assertIn(b"200 OK", data[:64])
        self.assertIn(b'"finish_reason":"length"', data)
        self.wait_metric("mmd_num_requests_running", 0)
        status, _, _ = self.daemon.request("POST", "/v1/chat/completions",
                                           {"messages": CHAT, "max_tokens": 4})
        self.assertEqual(status, 200)


class FailedEngineTest(unittest.TestCase):
    """A checkpoint damaged while the daemon sleeps: waking fails, /health says so (503, with the
    loader's message), generation requests get 503 naming the failure, and the daemon stays up
    to say it (systemd's watchdog, not a crash, restarts it)."""

    def test_damaged_checkpoint_at_wake_gives_503_with_the_reason(self):
        model = tempfile.mkdtemp(prefix="mmd-model-")
        for name in os.listdir(MODEL):
            shutil.copy(os.path.join(MODEL, name), model)
        daemon = Daemon(model=model)
        try:
            env = dict(os.environ, MMD_SOCKET=daemon.socket)
            subprocess.run([MMCTL, "sleep", "--level", "2"], env=env, check=True,
                           capture_output=True, timeout=60)
            weights = os.path.join(model, "model.safetensors")
            with open(weights, "r+b") as f:
                f.truncate(os.path.getsize(weights) // 2)
            subprocess.run([MMCTL, "wake"], env=env, capture_output=True, timeout=60)
            deadline = time.time() + 30
            while json.loads(daemon.get("/health")[1])["status"] != "failed" and \
                    time.time() < deadline:
                time.sleep(0.05)
            status, body, _ = daemon.get("/health")
            self.assertEqual(status, 503)
            health = json.loads(body)
            self.assertEqual(health["status"], "failed")
            self.assertIn("model.safetensors", health["error"])
            status, body, _ = daemon.request("POST", "/v1/chat/completions",
                                             {"messages": CHAT, "max_tokens": 4})
            self.assertEqual(status, 503, body)
            self.assertIn("the model failed to load", json.loads(body)["error"]["message"])
            self.assertEqual(daemon.get("/v1/models")[0], 200)  # the frontend still answers
        finally:
            daemon.stop()
            shutil.rmtree(model)


if __name__ == "__main__":
    unittest.main(verbosity=2)
