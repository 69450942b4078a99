"""Anthropic's Messages API against a real mmd, driven by the official `anthropic` client (issue 16).

Tool loops of 4 turns (tool_choice any, auto, tool, auto), whole and streamed: each turn's
assistant message goes back into the history as the client gives it (`response.content`, or
`stream.get_final_message().content`), thinking blocks included, answered by tool_result blocks
(a string, text blocks, one with is_error). count_tokens is the prompt the daemon runs (usage
input_tokens + cache_read_input_tokens) and the prompt of the same conversation in OpenAI's shape
(/tokenize): one prompt path. Thinking sent back is rendered (interleaved thinking). Requests in
the shape Claude Code sends (a long system prompt in blocks with cache_control, 12 tools with
nested schemas, metadata.user_id, anthropic-beta, thinking) are served. Malformed bodies get
Anthropic's error shape with the right status, naming the field, and the daemon keeps serving.

The bundled tiny model knows little: these assert shapes, not wording. Run by ctest with the test
venv's python (MMD_BINARY_DIR, MMD_SOURCE_DIR as for test_openai_api.py, whose Daemon this reuses).
"""
import json
import os
import sys
import unittest
import urllib.error
import urllib.request

import anthropic

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_openai_api import Daemon  # noqa: E402

KEY = "sk-mmd-test"
MODEL = "bf16"
WEATHER = {
    "name": "get_weather",
    "description": "Get the weather forecast for a city.",
    "input_schema": {"type": "object", "required": ["city"], "properties": {
        "city": {"type": "string", "description": "City name"},
        "days": {"type": "integer", "description": "Number of forecast days"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}},
}
CALCULATOR = {
    "name": "calculator",
    "description": "Evaluate an arithmetic expression.",
    "input_schema": {"required": ["expression"], "type": "object", "properties": {
        "expression": {"type": "string", "description": "An arithmetic expression"},
        "precision": {"type": "integer", "minimum": 0, "maximum": 12}}},
}
TOOLS = [WEATHER, CALCULATOR]
SCHEMA = {t["name"]: set(t["input_schema"]["properties"]) for t in TOOLS}
SYSTEM = "You are a helpful agent. Use the tools."
QUESTION = {"role": "user", "content": "What's the weather in Paris for the next 3 days?"}
FOLLOW_UPS = ["Thanks. And what is 12*7?", "And what's the weather in Rome?", "Thank you!"]
# turn 1 any (required), turn 2 auto, turn 3 a named tool, turn 4 auto
TOOL_CHOICES = [{"type": "any"}, {"type": "auto"}, {"type": "tool", "name": "get_weather"},
                {"type": "auto"}]
STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use"}


def openai_tools():
    return [{"type": "function", "function": {"name": t["name"], "description": t["description"],
                                              "parameters": t["input_schema"]}} for t in TOOLS]


def tool_results(content, turn):
    """A user turn answering every tool_use block: a string, then text blocks, then an error."""
    results = []
    for block in content:
        if block.type != "tool_use":
            continue
        if turn % 3 == 0:
            answer = '{"forecast": ["sunny", "cloudy", "rain"], "unit": "celsius"}'
        elif turn % 3 == 1:
            answer = [{"type": "text", "text": "84"}, {"type": "text", "text": "(exact)"}]
        else:
            answer = "unknown city"
        result = {"type": "tool_result", "tool_use_id": block.id, "content": answer}
        if turn % 3 == 2:
            result["is_error"] = True
        results.append(result)
    return {"role": "user", "content": results}


class AnthropicApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon("--api-key", KEY, "--max-model-len", "40960")
        cls.client = anthropic.Anthropic(base_url=cls.daemon.url, api_key=KEY, max_retries=0,
                                         timeout=300)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def assert_serving(self):
        self.assertEqual(self.daemon.get("/health")[0], 200)

    def post(self, path, body, headers=None):
        """Raw HTTP with the key as Anthropic's clients send it; returns (status, parsed body)."""
        all_headers = {"Content-Type": "application/json", "x-api-key": KEY,
                       "anthropic-version": "2023-06-01", **(headers or {})}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.daemon.url + path, data=data, method="POST",
                                     headers=all_headers)
        try:
            # A long prompt on a loaded 2-core machine takes a while to prefill.
            with urllib.request.urlopen(req, timeout=300) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def openai_prompt(self, messages):
        """The prompt ids of an OpenAI-shaped conversation (/tokenize)."""
        status, body, _ = self.daemon.request(
            "POST", "/tokenize", {"messages": messages, "tools": openai_tools()},
            {"Content-Type": "application/json", "Authorization": "Bearer " + KEY})
        self.assertEqual(status, 200, body)
        return json.loads(body)["tokens"]

    # ---- one turn, two ways --------------------------------------------------------------------

    def create(self, messages, tool_choice, **extra):
        r = self.client.messages.create(model=MODEL, max_tokens=200, system=SYSTEM, tools=TOOLS,
                                        tool_choice=tool_choice, messages=messages,
                                        extra_body={"temperature": 0}, **extra)
        self.assertEqual(r.type, "message")
        self.assertEqual(r.role, "assistant")
        self.assertTrue(r.id.startswith("msg_"), r.id)
        self.assertEqual(r.model, MODEL)
        return r

    def stream(self, messages, tool_choice):
        kinds = []
        with self.client.messages.stream(model=MODEL, max_tokens=200, system=SYSTEM, tools=TOOLS,
                                         tool_choice=tool_choice, messages=messages,
                                         extra_body={"temperature": 0}) as stream:
            text = ""
            for event in stream:
                kinds.append(event.type)
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    text += event.delta.text
            final = stream.get_final_message()
        self.assertEqual(kinds[0], "message_start")
        self.assertEqual(kinds[-1], "message_stop")
        self.assertEqual(kinds.count("content_block_start"), len(final.content), kinds)
        self.assertEqual(kinds.count("content_block_stop"), len(final.content), kinds)
        self.assertEqual(text, "".join(b.text for b in final.content if b.type == "text"))
        return final

    def check_turn(self, r, tool_choice):
        self.assertIn(r.stop_reason, STOP_REASONS, r)
        self.assertGreater(r.usage.input_tokens + r.usage.cache_read_input_tokens, 0)
        self.assertGreater(r.usage.output_tokens, 0)
        types = [b.type for b in r.content]
        for block in r.content:
            if block.type == "thinking":
                self.assertTrue(block.thinking)
                self.assertTrue(block.signature.startswith("mmd1."), block)
        uses = [b for b in r.content if b.type == "tool_use"]
        forced = tool_choice["type"] in ("any", "tool")
        if forced:
            self.assertTrue(uses, f"tool_choice {tool_choice} gave no tool_use: {r}")
        if uses:
            self.assertEqual(r.stop_reason, "tool_use", r)
            # Thinking first, then text, then the calls.
            self.assertEqual(types[-len(uses):], ["tool_use"] * len(uses), types)
        for use in uses:
            self.assertTrue(use.id, use)
            self.assertIn(use.name, SCHEMA, use)
            if tool_choice["type"] == "tool":
                self.assertEqual(use.name, tool_choice["name"])
            self.assertIsInstance(use.input, dict, use)
            if forced:
                self.assertLessEqual(set(use.input), SCHEMA[use.name], use)

    def run_loop(self, turn_fn):
        messages = [QUESTION]
        thought = False
        for turn, tool_choice in enumerate(TOOL_CHOICES):
            with self.subTest(turn=turn + 1, tool_choice=tool_choice):
                r = turn_fn(messages, tool_choice)
                self.check_turn(r, tool_choice)
                thought = thought or any(b.type == "thinking" for b in r.content)
            # The client's own objects go back, thinking blocks and signatures included.
            messages.append({"role": "assistant", "content": r.content})
            if any(b.type == "tool_use" for b in r.content):
                messages.append(tool_results(r.content, turn))
            elif turn < len(FOLLOW_UPS):
                messages.append({"role": "user", "content": FOLLOW_UPS[turn]})
        self.assertTrue(thought, "the model never thought")
        # The whole history (ending with the last assistant turn) still counts and the daemon
        # lives.
        n = self.client.messages.count_tokens(model=MODEL, system=SYSTEM, tools=TOOLS,
                                              messages=messages)
        self.assertGreater(n.input_tokens, 0)
        self.assert_serving()

    # ---- the loops -----------------------------------------------------------------------------

    def test_four_turn_tool_loop(self):
        self.run_loop(self.create)

    def test_four_turn_tool_loop_streamed(self):
        self.run_loop(self.stream)

    def test_streamed_and_whole_turns_agree(self):
        # Greedy decoding: the same history gives the same blocks, signatures included (tool_use
        # ids are fresh each time).
        whole = self.create([QUESTION], {"type": "auto"})
        streamed = self.stream([QUESTION], {"type": "auto"})

        def blocks(r):
            return [{k: v for k, v in b.model_dump().items() if k != "id"} for b in r.content]

        self.assertEqual(blocks(whole), blocks(streamed))
        self.assertIn("thinking", [b.type for b in whole.content])
        self.assertEqual(whole.stop_reason, streamed.stop_reason)
        self.assertEqual(whole.usage.output_tokens, streamed.usage.output_tokens)

    def test_raw_stream_events(self):
        """The wire itself: event lines, a ping after message_start, indices in order."""
        req = urllib.request.Request(
            self.daemon.url + "/v1/messages", method="POST",
            data=json.dumps({"model": MODEL, "max_tokens": 40, "stream": True, "tools": TOOLS,
                             "tool_choice": {"type": "any"}, "messages": [QUESTION]}).encode(),
            headers={"Content-Type": "application/json", "x-api-key": KEY,
                     "anthropic-version": "2023-06-01"})
        with urllib.request.urlopen(req, timeout=300) as resp:
            self.assertEqual(resp.status, 200)
            self.assertTrue(resp.headers["Content-Type"].startswith("text/event-stream"))
            raw = resp.read().decode()
        events = []
        for chunk in raw.strip().split("\n\n"):
            name, data = chunk.split("\n", 1)
            self.assertTrue(name.startswith("event: "), chunk)
            self.assertTrue(data.startswith("data: "), chunk)
            payload = json.loads(data[6:])
            self.assertEqual(payload["type"], name[7:])
            events.append(payload)
        self.assertEqual([e["type"] for e in events[:2]], ["message_start", "ping"])
        self.assertEqual([e["type"] for e in events[-2:]], ["message_delta", "message_stop"])
        self.assertNotIn("[DONE]", raw)
        open_index = None
        next_index = 0
        for e in events:
            if e["type"] == "content_block_start":
                self.assertIsNone(open_index)
                self.assertEqual(e["index"], next_index)
                open_index = e["index"]
            elif e["type"] == "content_block_delta":
                self.assertEqual(e["index"], open_index)
            elif e["type"] == "content_block_stop":
                self.assertEqual(e["index"], open_index)
                open_index, next_index = None, next_index + 1
        self.assertIsNone(open_index)
        self.assertEqual(events[-2]["delta"]["stop_reason"], "tool_use")
        self.assertGreater(events[-2]["usage"]["output_tokens"], 0)
        self.assertEqual(events[0]["message"]["usage"]["output_tokens"], 0)

    # ---- count_tokens: one prompt path --------------------------------------------------------

    def test_count_tokens_is_the_prompt_the_daemon_runs(self):
        messages = [QUESTION]
        n = self.client.messages.count_tokens(model=MODEL, system=SYSTEM, tools=TOOLS,
                                              messages=messages).input_tokens
        r = self.client.messages.create(model=MODEL, max_tokens=1, system=SYSTEM, tools=TOOLS,
                                        messages=messages)
        self.assertEqual(r.usage.input_tokens + r.usage.cache_read_input_tokens +
                         r.usage.cache_creation_input_tokens, n)
        self.assertEqual(r.stop_reason, "max_tokens")
        # The same conversation in OpenAI's shape renders the same prompt.
        self.assertEqual(n, len(self.openai_prompt([{"role": "system", "content": SYSTEM},
                                                    QUESTION])))
        # A repeat is served partly from the prefix cache, and still adds up to the prompt.
        again = self.client.messages.create(model=MODEL, max_tokens=1, system=SYSTEM, tools=TOOLS,
                                            messages=messages)
        self.assertGreater(again.usage.cache_read_input_tokens, 0)
        self.assertEqual(again.usage.input_tokens + again.usage.cache_read_input_tokens, n)

    def test_interleaved_thinking_round_trip(self):
        # auto: a forced call (any) opens the call at once, after an empty thinking block.
        r = self.create([QUESTION], {"type": "auto"})
        thinking = [b for b in r.content if b.type == "thinking"]
        uses = [b for b in r.content if b.type == "tool_use"]
        self.assertTrue(thinking, f"the model did not think: {r}")
        self.assertTrue(uses, r)
        history = [QUESTION, {"role": "assistant", "content": r.content},
                   tool_results(r.content, 0)]
        with_thinking = self.client.messages.count_tokens(
            model=MODEL, system=SYSTEM, tools=TOOLS, messages=history).input_tokens
        # The same turn in OpenAI's shape: reasoning_content is the thinking block.
        text = "".join(b.text for b in r.content if b.type == "text")
        assistant = {"role": "assistant", "content": text or None,
                     "reasoning_content": thinking[0].thinking,
                     "tool_calls": [{"id": u.id, "type": "function",
                                     "function": {"name": u.name,
                                                  "arguments": json.dumps(u.input)}}
                                    for u in uses]}
        tools = [{"role": "tool", "tool_call_id": u.id,
                  "content": '{"forecast": ["sunny", "cloudy", "rain"], "unit": "celsius"}'}
                 for u in uses]
        ids = self.openai_prompt([{"role": "system", "content": SYSTEM}, QUESTION, assistant,
                                  *tools])
        self.assertEqual(with_thinking, len(ids))
        status, body, _ = self.daemon.request(
            "POST", "/detokenize", {"tokens": ids},
            {"Content-Type": "application/json", "Authorization": "Bearer " + KEY})
        self.assertIn("<think>\n" + thinking[0].thinking + "\n</think>", json.loads(body)["prompt"])
        # Without the thinking block the prompt is shorter: it was rendered, not dropped.
        bare = [QUESTION, {"role": "assistant",
                           "content": [b for b in r.content if b.type != "thinking"]},
                tool_results(r.content, 0)]
        self.assertLess(self.client.messages.count_tokens(
            model=MODEL, system=SYSTEM, tools=TOOLS, messages=bare).input_tokens, with_thinking)
        # And the next turn, with the thinking sent back, is served.
        self.check_turn(self.create(history, {"type": "auto"}), {"type": "auto"})

    # ---- stop reasons -------------------------------------------------------------------------

    def test_stop_sequence_and_max_tokens(self):
        first = self.client.messages.create(model=MODEL, max_tokens=30, extra_body={"temperature": 0},
                                            messages=[QUESTION])
        self.assertEqual(first.stop_reason, "max_tokens")
        words = "".join(b.thinking if b.type == "thinking" else getattr(b, "text", "")
                        for b in first.content).split()
        self.assertGreater(len(words), 3, first)
        stop = " " + words[2]
        for stream in (False, True):
            with self.subTest(stream=stream):
                kwargs = dict(model=MODEL, max_tokens=30, extra_body={"temperature": 0}, messages=[QUESTION],
                              stop_sequences=["@@never@@", stop])
                if stream:
                    with self.client.messages.stream(**kwargs) as s:
                        r = s.get_final_message()
                else:
                    r = self.client.messages.create(**kwargs)
                self.assertEqual(r.stop_reason, "stop_sequence", r)
                self.assertEqual(r.stop_sequence, stop)
                self.assertLess(r.usage.output_tokens, 30)

    def test_assistant_prefill_continues_the_turn(self):
        r = self.client.messages.create(
            model=MODEL, max_tokens=5, extra_body={"temperature": 0},
            messages=[QUESTION, {"role": "assistant", "content": "The weather"}])
        self.assertIn(r.stop_reason, STOP_REASONS)
        n = self.client.messages.count_tokens(
            model=MODEL, messages=[QUESTION, {"role": "assistant", "content": "The weather"}])
        self.assertEqual(r.usage.input_tokens + r.usage.cache_read_input_tokens, n.input_tokens)

    # ---- what Claude Code sends ---------------------------------------------------------------

    def claude_code_request(self, stream):
        nested = {
            "type": "object",
            "$schema": "http://json-schema.org/draft-07/schema#",
            "additionalProperties": False,
            "required": ["todos"],
            "properties": {"todos": {"type": "array", "items": {
                "type": "object", "additionalProperties": False,
                "required": ["content", "status", "activeForm"],
                "properties": {
                    "content": {"type": "string", "minLength": 1},
                    "status": {"type": "string",
                               "enum": ["pending", "in_progress", "completed"]},
                    "activeForm": {"type": "string"},
                    "meta": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {
                        "tags": {"type": "array", "items": {"type": "string"}}}}]}}}}}}
        tools = []
        for name in ["Task", "Bash", "Glob", "Grep", "LS", "Read", "Edit", "MultiEdit", "Write",
                     "WebFetch", "TodoWrite", "WebSearch"]:
            schema = nested if name == "TodoWrite" else {
                "type": "object", "additionalProperties": False, "required": ["path"],
                "properties": {"path": {"type": "string"}, "options": {
                    "type": "object", "properties": {"edits": {"type": "array", "items": {
                        "type": "object", "properties": {"old": {"type": "string"}}}}}}}}
            tools.append({"name": name, "description": f"{name}: does things.",
                          "input_schema": schema})
        tools[-1]["cache_control"] = {"type": "ephemeral"}
        system = [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.0.14; "
                                     "cc_entrypoint=cli; cch=8f3e2;"},
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
             "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "You are an interactive CLI tool. " * 30 +
             "\n# Tone and style\nBe concise.", "cache_control": {"type": "ephemeral"}},
        ]
        messages = [{"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>\nAs you answer the user's questions, you "
                                     "can use the following context.\n</system-reminder>"},
            {"type": "text", "text": "List the files here.",
             "cache_control": {"type": "ephemeral"}}]}]
        return {"model": MODEL, "max_tokens": 32000, "temperature": 1, "stream": stream,
                "system": system, "tools": tools, "messages": messages,
                "metadata": {"user_id": "user_3f2a_account_9c1d_session_77e0"},
                "thinking": {"type": "enabled", "budget_tokens": 31999}}

    def test_claude_code_shaped_requests_are_served(self):
        beta = {"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,"
                                  "fine-grained-tool-streaming-2025-05-14"}
        body = self.claude_code_request(stream=False)
        body["max_tokens"] = 8
        status, r = self.post("/v1/messages", body, beta)
        self.assertEqual(status, 200, r)
        self.assertIn(r["stop_reason"], STOP_REASONS)
        status, n = self.post("/v1/messages/count_tokens",
                              {k: body[k] for k in ("model", "system", "tools", "messages",
                                                    "thinking")}, beta)
        self.assertEqual(status, 200, n)
        self.assertEqual(r["usage"]["input_tokens"] + r["usage"]["cache_read_input_tokens"],
                         n["input_tokens"])
        self.assertGreater(n["input_tokens"], 1000)  # the system prompt and 12 tools
        # Streamed, through the client, with a tool result turn after it.
        stream_body = self.claude_code_request(stream=True)
        # The client's 2.x create() has no temperature: it goes in the body as Claude Code sends it.
        params = {k: v for k, v in stream_body.items() if k not in ("stream", "temperature")}
        params["extra_body"] = {"temperature": 1}
        params["max_tokens"] = 8
        with self.client.messages.stream(**params, extra_headers=beta) as s:
            final = s.get_final_message()
        self.assertIn(final.stop_reason, STOP_REASONS)
        follow = params["messages"] + [
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "List them.", "signature": "sig-from-elsewhere"},
                {"type": "tool_use", "id": "toolu_01", "name": "LS", "input": {"path": "."}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01",
                 "content": [{"type": "text", "text": "README.md\nsrc/"}],
                 "cache_control": {"type": "ephemeral"}}]}]
        r2 = self.client.messages.create(**{**params, "messages": follow}, extra_headers=beta)
        self.assertIn(r2.stop_reason, STOP_REASONS)
        self.assert_serving()

    # ---- errors: Anthropic's shape, the daemon serving ----------------------------------------

    def assert_error(self, status, body, want_status, want_type, needle):
        self.assertEqual(status, want_status, body)
        self.assertIsInstance(body, dict, body)
        self.assertEqual(body.get("type"), "error", body)
        self.assertEqual(body["error"]["type"], want_type, body)
        self.assertIn(needle, body["error"]["message"])

    def test_malformed_bodies_get_anthropic_errors(self):
        user = [{"role": "user", "content": "hi"}]
        cases = [
            (b'{"model": "bf16", "max_tokens": 5, "messages": [', "not valid JSON"),
            ({"model": MODEL, "messages": user}, "'max_tokens' is required"),
            ({"model": MODEL, "max_tokens": "5", "messages": user}, "'max_tokens' must be"),
            ({"max_tokens": 5, "messages": user}, "'model' is required"),
            ({"model": MODEL, "max_tokens": 5, "messages": user, "n": 2}, "unknown field 'n'"),
            ({"model": MODEL, "max_tokens": 5, "messages": []}, "'messages' must not be empty"),
            ({"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": "iVBORw0KGgo="}}]}]},
             "messages[0].content[0].type"),
            ({"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_x", "content": "1"}]}]},
             "messages[0].content[0].tool_use_id"),
            ({"model": MODEL, "max_tokens": 5, "messages": user,
              "tools": [{"name": "f", "input_schema": "object"}]}, "tools[0].input_schema"),
            ({"model": MODEL, "max_tokens": 5, "messages": user,
              "tools": [{"type": "bash_20250124", "name": "bash"}]}, "tools[0].type"),
            ({"model": MODEL, "max_tokens": 5, "messages": user, "tools": TOOLS,
              "tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice.name"),
            ({"model": MODEL, "max_tokens": 5, "messages": user, "temperature": 7},
             "temperature"),
            ({"model": MODEL, "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
             "messages[0].role"),
            ({"model": MODEL, "max_tokens": 100000, "messages": user}, "max_tokens"),
        ]
        for body, needle in cases:
            with self.subTest(needle=needle):
                status, answer = self.post("/v1/messages", body)
                self.assert_error(status, answer, 400, "invalid_request_error", needle)
        status, answer = self.post("/v1/messages", {"model": "claude-opus-4-1", "max_tokens": 5,
                                                    "messages": user})
        self.assert_error(status, answer, 404, "not_found_error", "claude-opus-4-1")
        status, answer = self.post("/v1/messages/count_tokens",
                                   {"model": MODEL, "max_tokens": 5, "messages": user})
        self.assert_error(status, answer, 400, "invalid_request_error", "max_tokens")
        status, answer = self.post("/v1/messages", {"model": MODEL, "max_tokens": 5,
                                                    "messages": user}, {"x-api-key": "wrong"})
        self.assert_error(status, answer, 401, "authentication_error", "API key")
        status, text, headers = self.daemon.request("GET", "/v1/messages", None,
                                                    {"x-api-key": KEY})
        self.assert_error(status, json.loads(text), 405, "invalid_request_error", "POST")
        # The OpenAI routes keep OpenAI's shape.
        status, text, _ = self.daemon.request("POST", "/v1/chat/completions", {"messages": []},
                                              {"Authorization": "Bearer " + KEY})
        self.assertEqual(status, 400)
        self.assertIn("error", json.loads(text))
        self.assertNotIn("type", json.loads(text))
        self.assert_serving()

    def test_client_raises_the_matching_errors(self):
        with self.assertRaises(anthropic.BadRequestError) as ctx:
            self.client.messages.create(model=MODEL, max_tokens=5, messages=[
                {"role": "user", "content": [{"type": "text", "text": "a"},
                                             {"type": "document", "source": {
                                                 "type": "text", "media_type": "text/plain",
                                                 "data": "x"}}]}])
        self.assertEqual(ctx.exception.body["error"]["type"], "invalid_request_error")
        self.assertIn("messages[0].content[1].type", ctx.exception.body["error"]["message"])
        with self.assertRaises(anthropic.NotFoundError):
            self.client.messages.create(model="claude-sonnet-4-5", max_tokens=5,
                                        messages=[QUESTION])
        wrong = anthropic.Anthropic(base_url=self.daemon.url, api_key="nope", max_retries=0)
        with self.assertRaises(anthropic.AuthenticationError):
            wrong.messages.create(model=MODEL, max_tokens=5, messages=[QUESTION])
        # Bearer works too (auth_token), with the same key.
        bearer = anthropic.Anthropic(base_url=self.daemon.url, auth_token=KEY, max_retries=0)
        self.assertGreater(bearer.messages.count_tokens(model=MODEL,
                                                        messages=[QUESTION]).input_tokens, 0)
        self.assert_serving()


if __name__ == "__main__":
    unittest.main(verbosity=2)
