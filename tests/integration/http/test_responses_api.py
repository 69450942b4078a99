"""The OpenAI Responses API (POST /v1/responses) of a real mmd on the bundled tiny model, driven
by the official `openai` package (issue 16): responses.create whole and streamed with a function
tool, the stream helper (responses.stream) that checks every event against its snapshot, a 4-turn
tool loop that appends the response's output items and function_call_output items, instructions,
the same prompt tokens as the equivalent chat, max_output_tokens (incomplete), previous_response_id
refused (mmd keeps no responses), and malformed bodies: a 400 in the error shape naming the field,
after which the daemon keeps serving; text.format json_schema / json_object constrain the answer.

The tiny model knows little: these assert shapes, not wording. Run by ctest with the test venv's
python (MMD_BINARY_DIR, MMD_SOURCE_DIR as for test_openai_api.py).
"""
import itertools
import json
import os
import sys
import unittest

import openai
import pydantic
from openai.types.responses import Response, ResponseStreamEvent

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_openai_api import TOOLS as CHAT_TOOLS  # noqa: E402
from test_openai_api import Daemon  # noqa: E402

# The chat tools in the Responses API's flat form.
TOOLS = [{"type": "function", **t["function"]} for t in CHAT_TOOLS]
SCHEMA = {t["name"]: set(t["parameters"]["properties"]) for t in TOOLS}
QUESTION = "What's the weather in Paris for the next 3 days?"
FOLLOW_UPS = ["Thanks. And what time is it in Tokyo?", "Set a reminder to stretch in 5 minutes.",
              "Thank you!", "Bye."]
# turn 1 required, turn 2 auto, turn 3 named, turn 4 auto
TOOL_CHOICES = ["required", "auto", {"type": "function", "name": "get_weather"}, "auto"]


def tool_output(call):
    output = ('{"forecast": ["sunny", "cloudy", "rain"], "unit": "celsius"}'
              if call["name"] == "get_weather" else '{"ok": true}')
    return {"type": "function_call_output", "call_id": call["call_id"], "output": output}


class ResponsesApiTest(unittest.TestCase):
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

    def check_response(self, r, tool_choice=None):
        self.assertEqual(r.object, "response")
        self.assertTrue(r.id.startswith("resp_"), r.id)
        self.assertEqual(r.model, self.model)
        self.assertIn(r.status, {"completed", "incomplete"})
        self.assertIsNone(r.error)
        self.assertGreater(r.usage.input_tokens, 0)
        self.assertEqual(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens)
        self.assertLessEqual(r.usage.output_tokens_details.reasoning_tokens,
                             r.usage.output_tokens)
        self.assertGreaterEqual(r.usage.input_tokens_details.cached_tokens, 0)
        ids = [item.id for item in r.output]
        self.assertEqual(len(ids), len(set(ids)), ids)
        calls = [item for item in r.output if item.type == "function_call"]
        for item in r.output:
            self.assertIn(item.type, {"reasoning", "message", "function_call"})
            if item.type == "reasoning":
                self.assertTrue(item.content[0].text)
            if item.type == "message":
                self.assertEqual(item.role, "assistant")
                self.assertEqual(item.content[0].type, "output_text")
        forced = tool_choice == "required" or isinstance(tool_choice, dict)
        if forced:
            self.assertTrue(calls, f"tool_choice {tool_choice!r} gave no call: {r.output}")
        for call in calls:
            self.assertTrue(call.call_id)
            self.assertIn(call.name, SCHEMA)
            if isinstance(tool_choice, dict):
                self.assertEqual(call.name, tool_choice["name"])
            # JSON text of an object (the tiny model's argument names are its own business).
            self.assertIsInstance(json.loads(call.arguments), dict)
        if any(item.type == "reasoning" for item in r.output):
            self.assertGreater(r.usage.output_tokens_details.reasoning_tokens, 0)
        return calls

    # ---- one turn, whole and streamed -----------------------------------------------------------

    def test_whole_response_with_a_function_tool(self):
        r = self.client.responses.create(model=self.model, input=QUESTION, tools=TOOLS,
                                         tool_choice="required", max_output_tokens=200,
                                         temperature=0)
        calls = self.check_response(r, "required")
        self.assertEqual(r.status, "completed")
        self.assertEqual(r.tool_choice, "required")
        self.assertEqual([t.name for t in r.tools], [t["name"] for t in TOOLS])
        self.assertEqual(r.model_extra.get("store"), False)
        self.assertTrue(calls)
        self.assert_serving()

    def streamed(self, **kwargs):
        """responses.create(stream=True): the events, checked as they come; the final response."""
        stream = self.client.responses.create(model=self.model, stream=True, **kwargs)
        events = list(stream)
        self.assertEqual([e.sequence_number for e in events], list(range(len(events))))
        self.assertEqual([e.type for e in events[:2]],
                         ["response.created", "response.in_progress"])
        self.assertIn(events[-1].type, {"response.completed", "response.incomplete"})
        final = events[-1].response
        self.assertEqual(events[0].response.id, final.id)
        self.assertEqual(events[0].response.status, "in_progress")
        # Every item is added, filled by its deltas and done, in output order.
        added = [e for e in events if e.type == "response.output_item.added"]
        done = [e for e in events if e.type == "response.output_item.done"]
        self.assertEqual([e.output_index for e in added], list(range(len(final.output))))
        self.assertEqual([e.item.model_dump() for e in done],
                         [item.model_dump() for item in final.output])
        for index, item in enumerate(final.output):
            mine = [e for e in events if getattr(e, "output_index", None) == index]
            if item.type == "function_call":
                deltas = "".join(e.delta for e in mine
                                 if e.type == "response.function_call_arguments.delta")
                self.assertEqual(deltas, item.arguments)
                arguments_done = [e for e in mine
                                  if e.type == "response.function_call_arguments.done"]
                self.assertEqual(arguments_done[0].arguments, item.arguments)
            else:
                kind = "reasoning_text" if item.type == "reasoning" else "output_text"
                deltas = "".join(e.delta for e in mine if e.type == f"response.{kind}.delta")
                self.assertEqual(deltas, item.content[0].text)
                self.assertEqual([e.type for e in mine if e.type.startswith("response.content_")],
                                 ["response.content_part.added", "response.content_part.done"])
        return final, events

    def test_streamed_response_with_a_function_tool(self):
        final, events = self.streamed(input=QUESTION, tools=TOOLS, tool_choice="required",
                                      max_output_tokens=200, temperature=0)
        self.check_response(final, "required")
        self.assertIn("response.function_call_arguments.delta", {e.type for e in events})
        self.assert_serving()

    def test_streamed_reasoning(self):
        final, events = self.streamed(input=QUESTION, tools=TOOLS, max_output_tokens=200,
                                      temperature=0)
        self.check_response(final)
        self.assertEqual(final.output[0].type, "reasoning", final.output)  # MiniMax thinks first
        self.assertIn("response.reasoning_text.delta", {e.type for e in events})

    def test_streamed_and_whole_agree(self):
        # Greedy decoding: the same request gives the same items either way.
        whole = self.client.responses.create(model=self.model, input=QUESTION, tools=TOOLS,
                                             tool_choice="required", max_output_tokens=200,
                                             temperature=0)
        streamed, _ = self.streamed(input=QUESTION, tools=TOOLS, tool_choice="required",
                                    max_output_tokens=200, temperature=0)
        shape = [(i.type, getattr(i, "name", None), getattr(i, "arguments", None))
                 for i in whole.output]
        self.assertEqual(shape, [(i.type, getattr(i, "name", None), getattr(i, "arguments", None))
                                 for i in streamed.output])

    def test_stream_helper_accumulates_the_events(self):
        # responses.stream() rebuilds the response from the events and refuses inconsistent ones.
        with self.client.responses.stream(model=self.model, input="Tell me a fortune.",
                                          max_output_tokens=300, temperature=0,
                                          tools=TOOLS) as stream:
            texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
            final = stream.get_final_response()
        self.assertEqual("".join(texts), final.output_text)
        self.check_response(final)

    # ---- the loop -------------------------------------------------------------------------------

    def run_loop(self, create):
        items = [{"role": "user", "content": QUESTION}]
        for turn, tool_choice in enumerate(TOOL_CHOICES):
            r = create(input=items, tools=TOOLS, tool_choice=tool_choice,
                       instructions="You are a helpful agent. Use the tools.",
                       max_output_tokens=200, temperature=0)
            calls = [item for item in r.output if item.type == "function_call"]
            with self.subTest(turn=turn + 1, tool_choice=tool_choice):
                self.check_response(r, tool_choice)
            # The cookbook way: the output items go back as they came (reasoning included).
            items += [item.model_dump(exclude_none=True) for item in r.output]
            if calls:
                items += [tool_output(c.model_dump()) for c in calls]
            else:
                items.append({"role": "user", "content": FOLLOW_UPS[turn]})
        self.assertGreaterEqual(sum(1 for i in items if i.get("type") == "function_call_output"),
                                2)
        self.assert_serving()
        return items

    def test_four_turn_tool_loop(self):
        self.run_loop(self.client.responses.create)

    def test_four_turn_tool_loop_streamed(self):
        self.run_loop(lambda **kwargs: self.streamed(**kwargs)[0])

    # ---- the prompt is the chat's ---------------------------------------------------------------

    def input_tokens(self, **kwargs):
        r = self.client.responses.create(model=self.model, max_output_tokens=1, **kwargs)
        return r.usage.input_tokens

    def chat_tokens(self, messages, tools=None):
        body = {"messages": messages}
        if tools:
            body["tools"] = tools
        status, text, _ = self.daemon.request("POST", "/tokenize", body)
        self.assertEqual(status, 200, text)
        return json.loads(text)["count"]

    def test_instructions_are_the_system_message(self):
        with_instructions = self.input_tokens(instructions="You are a pirate. Say arr.",
                                              input="hi")
        self.assertEqual(with_instructions, self.chat_tokens(
            [{"role": "system", "content": "You are a pirate. Say arr."},
             {"role": "user", "content": "hi"}]))
        self.assertNotEqual(with_instructions, self.input_tokens(input="hi"))
        r = self.client.responses.create(model=self.model, instructions="Be brief.", input="hi",
                                         max_output_tokens=1, metadata={"run": "7"})
        self.assertEqual(r.instructions, "Be brief.")
        self.assertEqual(r.metadata, {"run": "7"})

    def test_reasoning_items_survive_the_round_trip(self):
        # Interleaved thinking: the reasoning item sent back is the next prompt's reasoning_content
        # (the same tokens as the chat history carrying it).
        r = self.client.responses.create(model=self.model, input=QUESTION, tools=TOOLS,
                                         max_output_tokens=200, temperature=0)
        self.check_response(r)
        reasoning = [i for i in r.output if i.type == "reasoning"]
        self.assertTrue(reasoning, f"the model did not think: {r.output}")
        items = [{"role": "user", "content": QUESTION}]
        items += [i.model_dump(exclude_none=True) for i in r.output]
        calls = [i for i in r.output if i.type == "function_call"]
        items += [tool_output(c.model_dump()) for c in calls]
        if not calls:
            items.append({"role": "user", "content": "Thanks!"})
        message = {"role": "assistant", "reasoning_content": reasoning[0].content[0].text,
                   "content": "".join(i.content[0].text for i in r.output
                                      if i.type == "message") or None}
        if calls:
            message["tool_calls"] = [{"id": c.call_id, "type": "function", "function": {
                "name": c.name, "arguments": c.arguments}} for c in calls]
        messages = [{"role": "user", "content": QUESTION}, message]
        messages += ([{"role": "tool", "tool_call_id": c.call_id,
                       "content": tool_output(c.model_dump())["output"]} for c in calls]
                     or [{"role": "user", "content": "Thanks!"}])
        with_reasoning = self.input_tokens(input=items, tools=TOOLS)
        self.assertEqual(with_reasoning, self.chat_tokens(messages, CHAT_TOOLS))
        # After tool calls no user message follows the reasoning, so it is in the prompt.
        self.assertTrue(calls, r.output)
        without = [i for i in items if i.get("type") != "reasoning"]
        self.assertLess(self.input_tokens(input=without, tools=TOOLS), with_reasoning)

    def test_a_tool_history_renders_as_the_same_chat(self):
        items = [{"role": "user", "content": QUESTION},
                 {"type": "reasoning", "id": "rs_1", "summary": [],
                  "content": [{"type": "reasoning_text", "text": "I should call get_weather."}]},
                 {"type": "function_call", "call_id": "call_1", "name": "get_weather",
                  "arguments": '{"city": "Paris", "days": 3}'},
                 {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]
        messages = [{"role": "user", "content": QUESTION},
                    {"role": "assistant", "content": None,
                     "reasoning_content": "I should call get_weather.",
                     "tool_calls": [{"id": "call_1", "type": "function", "function": {
                         "name": "get_weather", "arguments": '{"city": "Paris", "days": 3}'}}]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
        self.assertEqual(self.input_tokens(input=items, tools=TOOLS),
                         self.chat_tokens(messages, CHAT_TOOLS))

    def test_a_repeated_input_reports_cached_tokens(self):
        # The prefix cache serves the second request's prompt; usage says how much of it.
        kwargs = dict(model=self.model, instructions="You are a careful assistant. " * 8,
                      input="Which tools do you have?", max_output_tokens=2)
        first = self.client.responses.create(**kwargs)
        second = self.client.responses.create(**kwargs)
        self.assertEqual(first.usage.input_tokens, second.usage.input_tokens)
        self.assertGreater(second.usage.input_tokens_details.cached_tokens, 0)
        self.assertLess(second.usage.input_tokens_details.cached_tokens,
                        second.usage.input_tokens)

    def test_max_output_tokens_makes_it_incomplete(self):
        r = self.client.responses.create(model=self.model, input="Tell me a long story.",
                                         max_output_tokens=3)
        self.assertEqual(r.status, "incomplete")
        self.assertEqual(r.incomplete_details.reason, "max_output_tokens")
        self.assertEqual(r.usage.output_tokens, 3)
        self.assertEqual(r.output[-1].status, "incomplete")

    def test_a_codex_style_request_is_served(self):
        # The fields a Codex-style agent sends: store false, encrypted reasoning asked for (mmd
        # answers with the reasoning text instead), a cache key, verbosity, developer messages.
        final, _ = self.streamed(
            instructions="You are a coding agent.",
            input=[{"type": "message", "role": "developer",
                    "content": [{"type": "input_text", "text": "Sandbox: read-only."}]},
                   {"type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": QUESTION}]}],
            tools=TOOLS, tool_choice="auto", parallel_tool_calls=False,
            reasoning={"effort": "medium", "summary": "auto"}, store=False,
            include=["reasoning.encrypted_content"], prompt_cache_key="session-1",
            text={"verbosity": "low"}, max_output_tokens=200, temperature=0)
        self.check_response(final)
        self.assertEqual(final.reasoning.effort, "medium")
        self.assertFalse(final.parallel_tool_calls)

    # ---- refusals -------------------------------------------------------------------------------

    def assert_bad_request(self, field, needle, **kwargs):
        with self.assertRaises(openai.BadRequestError) as ctx:
            self.client.responses.create(model=self.model, max_output_tokens=5, **kwargs)
        self.assertEqual(ctx.exception.status_code, 400)
        self.assertEqual(ctx.exception.body["param"], field)
        self.assertIn(needle, ctx.exception.body["message"])
        self.assert_serving()

    def test_previous_response_id_is_refused(self):
        first = self.client.responses.create(model=self.model, input="hi", max_output_tokens=2)
        self.assert_bad_request("previous_response_id", "stored responses are not kept",
                                input="and then?", previous_response_id=first.id)

    def test_text_format_json_schema_constrains_the_answer(self):
        # The same constraint as chat's response_format (daemon/constraint), after the reasoning.
        schema = {"type": "object", "properties": {"ok": {"type": "boolean"},
                                                   "n": {"type": "integer"}},
                  "required": ["ok", "n"], "additionalProperties": False}
        fmt = {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}
        for stream in (False, True):
            with self.subTest(stream=stream):
                kwargs = dict(input="Answer in JSON.", text={"format": fmt},
                              max_output_tokens=600, temperature=0)
                r = self.streamed(**kwargs)[0] if stream else \
                    self.client.responses.create(model=self.model, **kwargs)
                self.assertEqual(r.status, "completed", r.output)
                answer = json.loads(r.output_text)
                self.assertEqual(set(answer), {"ok", "n"})
                self.assertIsInstance(answer["ok"], bool)
                self.assertIsInstance(answer["n"], int)
                self.assertEqual(r.text.format.type, "json_schema")
        r = self.client.responses.create(model=self.model, input="JSON please.",
                                         text={"format": {"type": "json_object"}},
                                         max_output_tokens=600, temperature=0)
        if r.status == "completed":
            self.assertIsInstance(json.loads(r.output_text), dict)
        else:
            self.assertTrue(r.output_text.startswith("{"), r.output)

    def test_bad_schemas_name_their_path_under_text_format(self):
        self.assert_bad_request("text.format.schema", "JSON Schema", input="hi", text={
            "format": {"type": "json_schema", "name": "x", "schema": [1]}})
        # A keyword the constraint compiler does not take: the 400 names its path.
        status, text, _ = self.daemon.request("POST", "/v1/responses", {
            "input": "hi", "text": {"format": {"type": "json_schema", "name": "x", "schema": {
                "type": "object", "properties": {"a": {"type": "string", "not": {"const": "x"}}}}}}})
        self.assertEqual(status, 400, text)
        self.assertEqual(json.loads(text)["error"]["param"], "text.format.schema.properties.a.not")
        self.assert_serving()

    def test_stream_is_server_sent_events_with_event_lines(self):
        status, text, headers = self.daemon.request(
            "POST", "/v1/responses", {"input": "hi", "stream": True, "max_output_tokens": 5})
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/event-stream"), headers)
        blocks = [b for b in text.split("\n\n") if b]
        self.assertGreaterEqual(len(blocks), 3)
        for block in blocks:  # "event: TYPE" then "data: {... TYPE ...}", and no [DONE]
            event, data = block.split("\n")
            self.assertTrue(event.startswith("event: ") and data.startswith("data: "), block)
            self.assertEqual(json.loads(data[6:])["type"], event[7:])
        self.assertEqual(json.loads(blocks[-1].split("\n")[1][6:])["type"], "response.incomplete")

    def test_answers_validate_against_the_openai_types(self):
        # Strict pydantic validation (the client itself builds its objects without it): every
        # field the openai package requires is there, with its type.
        events = pydantic.TypeAdapter(ResponseStreamEvent)
        for tool_choice, limit, stream in itertools.product(("auto", "required"), (200, 5),
                                                            (False, True)):
            with self.subTest(tool_choice=tool_choice, max_output_tokens=limit, stream=stream):
                status, text, _ = self.daemon.request("POST", "/v1/responses", {
                    "input": QUESTION, "tools": TOOLS, "tool_choice": tool_choice,
                    "max_output_tokens": limit, "temperature": 0, "stream": stream,
                    "instructions": "Use the tools.", "metadata": {"a": "b"},
                    "reasoning": {"effort": "low"}})
                self.assertEqual(status, 200, text)
                if not stream:
                    Response.model_validate_json(text)
                    continue
                for block in filter(None, text.split("\n\n")):
                    events.validate_json(block.split("\n")[1][len("data: "):])

    def test_unknown_model_is_a_404(self):
        with self.assertRaises(openai.NotFoundError):
            self.client.responses.create(model="gpt-x", input="hi", max_output_tokens=1)
        self.assert_serving()

    def test_malformed_bodies_get_the_error_shape(self):
        cases = [
            (b"{", None, "not valid JSON"),
            (b"[]", None, "JSON object"),
            ({"input": "x", "bogus": 1}, "bogus", "unknown field"),
            ({"model": self.model}, "input", "is required"),
            ({"input": 5}, "input", "string or a non-empty array"),
            ({"input": [{"type": "function_call_output", "call_id": "c9", "output": "x"}]},
             "input[0].call_id", "names no function_call"),
            ({"input": [{"type": "function_call", "call_id": "c", "name": "f",
                         "arguments": "{\"a\""}]}, "input[0].arguments", "not valid JSON"),
            ({"input": [{"role": "user", "content": [{"type": "input_image",
                                                        "image_url": "http://x"}]}]},
             "input[0].content[0].type", "text only"),
            ({"input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type",
             "function tools only"),
            ({"input": "x", "tools": TOOLS, "tool_choice": {"type": "function", "name": "nope"}},
             "tool_choice.name", "not one of"),
            ({"input": "x", "max_output_tokens": "many"}, "max_output_tokens", "integer"),
            ({"input": "x", "temperature": -1}, "temperature", "temperature"),
            ({"input": "x", "max_output_tokens": 0}, "max_output_tokens",
             "'max_output_tokens' must be at least 1"),
            ({"input": "x", "max_output_tokens": 10**6}, "max_output_tokens",
             "maximum context length"),
            ({"input": "x" * 100000}, "input", "maximum context length"),
            ({"input": "x", "stream": True, "previous_response_id": "resp_1"},
             "previous_response_id", "not kept"),
        ]
        for body, param, needle in cases:
            with self.subTest(body=body):
                status, text, headers = self.daemon.request("POST", "/v1/responses", body)
                self.assertEqual(status, 400, text)
                self.assertTrue(headers["Content-Type"].startswith("application/json"), headers)
                error = json.loads(text)["error"]
                self.assertEqual(set(error), {"message", "type", "param", "code"})
                self.assertEqual(error["param"], param, error)
                self.assertIn(needle, error["message"])
        status, _, headers = self.daemon.request("GET", "/v1/responses")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "POST")
        # ... and the daemon still answers a good one.
        r = self.client.responses.create(model=self.model, input="hi", max_output_tokens=2)
        self.assertIn(r.status, {"completed", "incomplete"})
        self.assert_serving()


if __name__ == "__main__":
    unittest.main(verbosity=2)
