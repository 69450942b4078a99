"""Constrained decoding (issue 17) against a real mmd with the official `openai` client.

Every schema of the corpus (tests/fixtures/constraint/schemas.json: agent tool schemas and
structured-output schemas) is asked for on the bundled tiny model, whose answers are otherwise
random-ish: tool schemas as a named tool_choice (tool_calls parsed by mmd's tool-call parser,
arguments validated by `jsonschema`), output schemas as response_format json_schema (content
validated by `jsonschema`). Also: tool_choice "required" over several tools, json_object,
vLLM's guided_json / guided_regex / guided_choice / structured_outputs, streaming and
non-streaming agreeing token for token (same seed), and unsupported keywords as a 400 whose
param is the keyword's JSON path (tests/fixtures/constraint/unsupported.json).

Run by ctest with the test venv's python (MMD_BINARY_DIR, MMD_SOURCE_DIR as for
test_openai_api.py).
"""
import json
import os
import re
import sys
import unittest

import jsonschema
import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_openai_api import Daemon  # noqa: E402

FIXTURES = os.path.join(os.environ.get("MMD_SOURCE_DIR", "."), "tests", "fixtures", "constraint")
MODEL = "bf16"


def load(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return json.load(f)


def bounded(schema):
    """The schema with free strings capped at 24 characters and arrays at 3 items: the tiny
    model's text is random and rarely closes a string by itself. What it writes is validated
    against the original schema (the bounded one only allows fewer values)."""
    if isinstance(schema, list):
        return [bounded(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bounded(v) for k, v in schema.items()}
    t = out.get("type")
    types = t if isinstance(t, list) else [t]
    if "string" in types and not any(k in out for k in ("enum", "const", "pattern", "maxLength")):
        out["maxLength"] = 24
    if "array" in types and "maxItems" not in out and "prefixItems" not in out:
        out["maxItems"] = 3
    if out.get("type") == "object" and "properties" not in out and \
            "additionalProperties" not in out:
        out["properties"] = {"key": {"type": "integer"}}
        out["additionalProperties"] = False
    return out


def validate(instance, schema):
    jsonschema.validators.validator_for(schema)(schema).validate(instance)


class ConstrainedDecodingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon()
        cls.client = openai.OpenAI(base_url=cls.daemon.url + "/v1", api_key="unused",
                                   max_retries=0, timeout=120)
        cls.corpus = load("schemas.json")

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def chat(self, content, **kw):
        kw.setdefault("max_tokens", 600)
        kw.setdefault("temperature", 0.8)
        return self.client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": content}], **kw)

    def answer(self, content, seed, **kw):
        """A chat whose reasoning ended: the constraint starts after `</think>`, and the tiny
        model sometimes thinks past max_tokens (then another seed is tried, at most 4)."""
        for attempt in range(4):
            r = self.chat(content, seed=seed + 1000 * attempt, **kw)
            message = r.choices[0].message
            if r.choices[0].finish_reason != "length" or message.content or message.tool_calls:
                return r
        self.fail("the model never ended its reasoning within max_tokens")

    # ---- the corpus ------------------------------------------------------------------------

    def test_every_output_schema_validates(self):
        for i, entry in enumerate(e for e in self.corpus if e["kind"] == "output"):
            with self.subTest(entry["name"]):
                r = self.answer("Answer in JSON: " + entry["name"], 100 + i,
                              response_format={"type": "json_schema", "json_schema": {
                                  "name": re.sub(r"\W", "_", entry["name"]),
                                  "schema": bounded(entry["schema"]), "strict": True}})
                choice = r.choices[0]
                self.assertEqual(choice.finish_reason, "stop", choice.message.content)
                validate(json.loads(choice.message.content), entry["schema"])

    def test_every_tool_schema_yields_a_valid_named_call(self):
        for i, entry in enumerate(e for e in self.corpus if e["kind"] == "tool"):
            with self.subTest(entry["name"]):
                tool = {"type": "function", "function": {
                    "name": entry["name"], "description": "a tool",
                    "parameters": bounded(entry["schema"])}}
                r = self.chat("Use the tool " + entry["name"], seed=200 + i, tools=[tool],
                              tool_choice={"type": "function",
                                           "function": {"name": entry["name"]}})
                choice = r.choices[0]
                self.assertEqual(choice.finish_reason, "tool_calls", choice.message)
                self.assertEqual(len(choice.message.tool_calls), 1)
                call = choice.message.tool_calls[0]
                self.assertEqual(call.function.name, entry["name"])
                validate(json.loads(call.function.arguments), entry["schema"])

    def test_required_calls_any_offered_tool_validly(self):
        tools = [e for e in self.corpus if e["kind"] == "tool"][:6]
        offered = [{"type": "function", "function": {"name": e["name"],
                                                      "parameters": bounded(e["schema"])}}
                   for e in tools]
        schemas = {e["name"]: e["schema"] for e in tools}
        for seed in range(8):
            with self.subTest(seed=seed):
                r = self.chat("Do something useful.", seed=seed, tools=offered,
                              tool_choice="required", max_tokens=900)
                choice = r.choices[0]
                self.assertEqual(choice.finish_reason, "tool_calls", choice.message)
                self.assertGreaterEqual(len(choice.message.tool_calls), 1)
                for call in choice.message.tool_calls:
                    validate(json.loads(call.function.arguments), schemas[call.function.name])

    # ---- other formats ---------------------------------------------------------------------

    def test_json_object_is_an_object(self):
        # Unbounded strings: the tiny model may not close one within max_tokens (a hot
        # temperature makes a quote likelier), so only the answers that finished are parsed, and
        # some must finish.
        finished = 0
        for seed in range(6):
            r = self.answer("Some JSON please.", seed, temperature=1.6,
                            response_format={"type": "json_object"})
            if r.choices[0].finish_reason == "stop":
                finished += 1
                self.assertIsInstance(json.loads(r.choices[0].message.content), dict)
            else:
                self.assertTrue(r.choices[0].message.content.startswith("{"))
        self.assertGreater(finished, 0)

    def test_vllm_guided_fields(self):
        schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
        r = self.chat("?", seed=1, extra_body={"guided_json": schema})
        validate(json.loads(r.choices[0].message.content), schema)
        r = self.chat("?", seed=2, extra_body={"guided_json": json.dumps(schema)})
        validate(json.loads(r.choices[0].message.content), schema)
        r = self.chat("?", seed=3, extra_body={"guided_choice": ["alpha", "beta", "gamma"]})
        self.assertIn(r.choices[0].message.content, ["alpha", "beta", "gamma"])
        r = self.chat("?", seed=4, extra_body={"guided_regex": r"[A-Z]{3}-\d{2,4}"})
        self.assertRegex(r.choices[0].message.content, r"^[A-Z]{3}-\d{2,4}$")
        r = self.chat("?", seed=5, extra_body={"structured_outputs": {"choice": ["yes", "no"]}})
        self.assertIn(r.choices[0].message.content, ["yes", "no"])
        # A complete answer ends the request even under ignore_eos (nothing may follow it).
        r = self.chat("?", seed=6, extra_body={"guided_choice": ["yes", "no"], "ignore_eos": True})
        self.assertIn(r.choices[0].message.content, ["yes", "no"])
        self.assertEqual(r.choices[0].finish_reason, "stop")

    def test_streaming_agrees_with_non_streaming(self):
        outputs = [e for e in self.corpus if e["kind"] == "output"][:4]
        for entry in outputs:
            fmt = {"type": "json_schema",
                   "json_schema": {"name": "s", "schema": bounded(entry["schema"])}}
            whole = self.chat("JSON", seed=7, response_format=fmt).choices[0].message.content
            parts = []
            for chunk in self.chat("JSON", seed=7, response_format=fmt, stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
            self.assertEqual("".join(parts), whole, entry["name"])
        tool = [e for e in self.corpus if e["kind"] == "tool"][1]
        kw = dict(seed=9, tools=[{"type": "function", "function": {
            "name": tool["name"], "parameters": bounded(tool["schema"])}}],
            tool_choice="required")
        whole = self.chat("go", **kw).choices[0].message.tool_calls
        args = {}
        names = {}
        for chunk in self.chat("go", stream=True, **kw):
            for d in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                names[d.index] = names.get(d.index, "") + (d.function.name or "")
                args[d.index] = args.get(d.index, "") + (d.function.arguments or "")
        self.assertEqual([names[i] for i in sorted(names)], [c.function.name for c in whole])
        self.assertEqual([json.loads(args[i]) for i in sorted(args)],
                         [json.loads(c.function.arguments) for c in whole])

    # ---- errors ----------------------------------------------------------------------------

    def test_unsupported_keywords_are_400_naming_their_path(self):
        for case in load("unsupported.json"):
            with self.subTest(case["path"]):
                with self.assertRaises(openai.BadRequestError) as caught:
                    self.chat("x", max_tokens=4, response_format={
                        "type": "json_schema", "json_schema": {"name": "s", "schema": case["schema"]}})
                self.assertEqual(caught.exception.body["param"], case["path"])
        with self.assertRaises(openai.BadRequestError) as caught:
            self.chat("x", max_tokens=4, tools=[{"type": "function", "function": {
                "name": "f", "parameters": {"type": "object", "properties": {
                    "q": {"type": "string", "pattern": "(?=x)"}}}}}], tool_choice="required")
        self.assertEqual(caught.exception.body["param"],
                         "tools[0].function.parameters.properties.q.pattern")
        with self.assertRaises(openai.BadRequestError) as caught:
            self.chat("x", max_tokens=4, response_format={"type": "json_object"},
                      extra_body={"guided_regex": "a"})
        self.assertEqual(caught.exception.body["param"], "guided_regex")
        # The daemon keeps serving.
        self.assertEqual(self.chat("hi", max_tokens=4).choices[0].finish_reason in
                         ("stop", "length"), True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
