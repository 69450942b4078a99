"""Agent loops against a real mmd with the official `openai` client (issue 21).

A 4-turn tool loop (tool_choice required, auto, named, auto), non-streamed and streamed: each
turn's assistant message goes back into the history exactly as the client library gives it
(message.model_dump(exclude_none=True), or the message rebuilt from the stream), answered by a
tool message per tool call. Then the histories agents get wrong: arguments as an object (valid;
the same prompt as the JSON text), `"arguments": 5` and `tool_calls` as an object (400 naming
the field); and the interleaved-thinking round trip (reasoning_content sent back is rendered
when it follows the last user message, dropped once a user message follows it).

The bundled tiny model knows little: these assert shapes, not wording. Run by ctest with the
test venv's python (MMD_BINARY_DIR, MMD_SOURCE_DIR as for test_openai_api.py).
"""
import json
import os
import sys
import unittest

import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_openai_api import Daemon  # noqa: E402

# Keys deliberately not in alphabetical order (the prompt keeps the order the client sent).
WEATHER = {"type": "function", "function": {
    "name": "get_weather",
    "description": "Get the weather forecast for a city.",
    "parameters": {"type": "object", "required": ["city"], "properties": {
        "city": {"type": "string", "description": "City name"},
        "days": {"type": "integer", "description": "Number of forecast days"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}}
CALCULATOR = {"type": "function", "function": {
    "parameters": {"required": ["expression"], "type": "object", "properties": {
        "expression": {"type": "string", "description": "An arithmetic expression"},
        "precision": {"type": "integer", "minimum": 0, "maximum": 12},
        "angle_unit": {"enum": ["rad", "deg"], "type": "string"}}},
    "name": "calculator",
    "description": "Evaluate an arithmetic expression."}}
TOOLS = [WEATHER, CALCULATOR]
SCHEMA = {t["function"]["name"]: set(t["function"]["parameters"]["properties"]) for t in TOOLS}
FINISH = {"stop", "length", "tool_calls"}
QUESTION = {"role": "user", "content": "What's the weather in Paris for the next 3 days?"}
FOLLOW_UPS = ["Thanks. And what is 12*7?", "And what's the weather in Rome?", "Thank you!",
              "Bye."]
# turn 1 required, turn 2 auto, turn 3 named, turn 4 auto
TOOL_CHOICES = ["required", "auto", {"type": "function", "function": {"name": "get_weather"}},
                "auto"]


def tool_answer(call):
    name = call["function"]["name"]
    content = ('{"forecast": ["sunny", "cloudy", "rain"], "unit": "celsius"}'
               if name == "get_weather" else "84")
    return {"role": "tool", "tool_call_id": call["id"], "content": content}


class AgentLoopTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon()
        cls.client = openai.OpenAI(base_url=cls.daemon.url + "/v1", api_key="unused",
                                   max_retries=0, timeout=120)
        cls.model = "bf16"

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def assert_serving(self):
        self.assertEqual(self.daemon.get("/health")[0], 200)

    # ---- one turn, two ways --------------------------------------------------------------------

    def complete(self, messages, tool_choice):
        r = self.client.chat.completions.create(
            model=self.model, messages=messages, tools=TOOLS, tool_choice=tool_choice,
            max_tokens=200, temperature=0)
        choice = r.choices[0]
        return choice.message.model_dump(exclude_none=True), choice.finish_reason

    def complete_object(self, messages, tool_choice):
        """The cookbook way: messages.append(response.choices[0].message), the pydantic object
        itself (the client sends the fields the server set)."""
        r = self.client.chat.completions.create(
            model=self.model, messages=messages, tools=TOOLS, tool_choice=tool_choice,
            max_tokens=200, temperature=0)
        return r.choices[0].message, r.choices[0].finish_reason

    def complete_streamed(self, messages, tool_choice):
        stream = self.client.chat.completions.create(
            model=self.model, messages=messages, tools=TOOLS, tool_choice=tool_choice,
            max_tokens=200, temperature=0, stream=True)
        content, reasoning, calls, finish, roles = "", "", {}, None, []
        for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if delta.role:
                roles.append(delta.role)
            content += delta.content or ""
            reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            for d in delta.tool_calls or []:
                call = calls.setdefault(d.index, {"id": None, "type": "function",
                                                  "function": {"name": "", "arguments": ""}})
                if d.id:
                    call["id"] = d.id
                if d.function and d.function.name:
                    call["function"]["name"] += d.function.name
                if d.function and d.function.arguments:
                    call["function"]["arguments"] += d.function.arguments
            finish = chunk.choices[0].finish_reason or finish
        self.assertEqual(roles, ["assistant"])
        message = {"role": "assistant"}
        if content:
            message["content"] = content
        if reasoning:
            message["reasoning_content"] = reasoning
        if calls:
            message["tool_calls"] = [calls[i] for i in sorted(calls)]
        return message, finish

    def check_turn(self, message, finish, tool_choice):
        self.assertEqual(message["role"], "assistant")
        self.assertIn(finish, FINISH, message)
        self.assertIsInstance(message.get("content", ""), str)
        calls = message.get("tool_calls") or []
        forced = tool_choice == "required" or isinstance(tool_choice, dict)
        if forced:
            self.assertTrue(calls, f"tool_choice {tool_choice!r} gave no tool call: {message}")
        for call in calls:
            self.assertTrue(call["id"], call)
            self.assertEqual(call["type"], "function")
            name = call["function"]["name"]
            self.assertIn(name, SCHEMA, call)
            if isinstance(tool_choice, dict):
                self.assertEqual(name, tool_choice["function"]["name"])
            arguments = json.loads(call["function"]["arguments"])
            self.assertIsInstance(arguments, dict, call)
            if forced:
                self.assertLessEqual(set(arguments), SCHEMA[name], call)

    def run_loop(self, complete):
        messages = [{"role": "system", "content": "You are a helpful agent. Use the tools."},
                    QUESTION]
        for turn, tool_choice in enumerate(TOOL_CHOICES):
            with self.subTest(turn=turn + 1, tool_choice=tool_choice):
                sent, finish = complete(messages, tool_choice)
                message = sent if isinstance(sent, dict) else sent.model_dump(exclude_none=True)
                self.check_turn(message, finish, tool_choice)
            messages.append(sent)
            if message.get("tool_calls"):
                messages.extend(tool_answer(c) for c in message["tool_calls"])
            else:
                messages.append({"role": "user", "content": FOLLOW_UPS[turn]})
        # The whole history renders (a fifth request with it is served) and the daemon lives.
        plain = [m if isinstance(m, dict) else m.model_dump(exclude_unset=True) for m in messages]
        status, body, _ = self.daemon.request("POST", "/tokenize",
                                              {"messages": plain, "tools": TOOLS})
        self.assertEqual(status, 200, body)
        self.assert_serving()
        return messages

    # ---- the loops -----------------------------------------------------------------------------

    def test_four_turn_tool_loop(self):
        self.run_loop(self.complete)

    def test_four_turn_tool_loop_streamed(self):
        self.run_loop(self.complete_streamed)

    def test_four_turn_tool_loop_appending_message_objects(self):
        self.run_loop(self.complete_object)

    def test_streamed_and_whole_loops_agree(self):
        # Greedy decoding: the same history gives the same turn either way.
        first, _ = self.complete([QUESTION], "required")
        streamed, _ = self.complete_streamed([QUESTION], "required")
        self.assertEqual([c["function"] for c in first.get("tool_calls", [])],
                         [c["function"] for c in streamed.get("tool_calls", [])])

    # ---- histories as agents send them -----------------------------------------------------------

    def history(self, arguments=None, tool_calls=None):
        call = {"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": arguments}}
        return [QUESTION,
                {"role": "assistant", "content": None,
                 "tool_calls": [call] if tool_calls is None else tool_calls},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]

    def prompt_ids(self, messages):
        r = self.client.chat.completions.create(
            model=self.model, messages=messages, tools=TOOLS, max_tokens=1,
            extra_body={"return_token_ids": True})
        self.assertIn(r.choices[0].finish_reason, FINISH)
        return r.model_extra["prompt_token_ids"]

    def test_arguments_as_object_is_the_same_prompt_as_json_text(self):
        # The openai types want a string; at run time the client sends what it is given.
        as_text = self.prompt_ids(self.history('{"city": "Paris", "days": 3}'))
        as_object = self.prompt_ids(self.history({"city": "Paris", "days": 3}))
        self.assertEqual(as_object, as_text)
        self.assert_serving()

    def assert_refused(self, messages, field):
        with self.assertRaises(openai.BadRequestError) as ctx:
            self.client.chat.completions.create(model=self.model, messages=messages, tools=TOOLS,
                                                max_tokens=1)
        self.assertEqual(ctx.exception.status_code, 400)
        self.assertIn(field, ctx.exception.body["message"])
        self.assert_serving()

    def test_arguments_that_are_a_number_are_a_400(self):
        self.assert_refused(self.history(5), "arguments")

    def test_arguments_that_are_not_json_are_a_400(self):
        self.assert_refused(self.history('{"city": "Par'), "arguments")

    def test_tool_calls_that_are_an_object_are_a_400(self):
        call = {"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        self.assert_refused(self.history(tool_calls=call), "tool_calls")

    def test_bad_histories_over_raw_http_leave_the_daemon_serving(self):
        for messages, field in [(self.history(5), "arguments"),
                                (self.history(tool_calls={"id": "x"}), "tool_calls"),
                                (self.history(tool_calls="call"), "tool_calls"),
                                (self.history([1, 2]), "arguments")]:
            status, body, _ = self.daemon.request(
                "POST", "/v1/chat/completions", {"messages": messages, "max_tokens": 1})
            self.assertEqual(status, 400, body)
            self.assertIn(field, json.loads(body)["error"]["message"])
        self.assert_serving()

    # ---- interleaved thinking ------------------------------------------------------------------

    def rendered(self, messages):
        status, body, _ = self.daemon.request("POST", "/tokenize",
                                              {"messages": messages, "tools": TOOLS})
        self.assertEqual(status, 200, body)
        status, body, _ = self.daemon.request("POST", "/detokenize",
                                              {"tokens": json.loads(body)["tokens"]})
        self.assertEqual(status, 200, body)
        return json.loads(body)["prompt"]

    def test_interleaved_thinking_round_trip(self):
        r = self.client.chat.completions.create(model=self.model, messages=[QUESTION],
                                                tools=TOOLS, max_tokens=200, temperature=0)
        message = r.choices[0].message.model_dump(exclude_none=True)
        reasoning = message.get("reasoning_content")
        self.assertTrue(reasoning, f"the model did not think: {message}")  # it thinks first
        messages = [QUESTION, message]
        messages.extend(tool_answer(c) for c in message.get("tool_calls", []))
        block = "<think>\n" + reasoning + "\n</think>\n\n"
        # The reasoning follows the last user message: it is part of the next prompt ...
        self.assertIn(block, self.rendered(messages))
        # ... and the next turn (sent back as is) is served.
        r = self.client.chat.completions.create(model=self.model, messages=messages,
                                                tools=TOOLS, max_tokens=20)
        self.assertIn(r.choices[0].finish_reason, FINISH)
        # Once a user message follows it, it is dropped (MiniMax's interleaved thinking).
        later = messages + [{"role": "user", "content": "Thanks!"}]
        self.assertNotIn(block, self.rendered(later))
        self.assert_serving()


if __name__ == "__main__":
    unittest.main(verbosity=2)
