#!/usr/bin/env python3
"""Renders the chat-request corpus with Hugging Face transformers' apply_chat_template and writes
tests/fixtures/text/chat_corpus.json (issue 21: "byte-identical to the reference").

Each case is a request as a client sends it (the chat fields of a /v1/chat/completions body:
messages, tools, tool_choice, chat_template_kwargs, add_generation_prompt,
continue_final_message) and either the reference prompt (text and token ids) or, where the
reference raises, "error": a substring mmd's 400 message must contain (python_error records what
the reference said).

The serving-layer steps mmd defines, applied here before calling transformers (the same steps
vLLM applies):
  1. messages go to the template as sent, except: role "developer" becomes "system"; an assistant
     tool call's function.arguments given as JSON text is json.loads()'d (objects stay; key order
     kept); "reasoning" is an alias of "reasoning_content".
  2. tools go to the template exactly as sent, unless tool_choice is "none" (then tools=None).
  3. tool_choice "required" appends REQUIRED_PREFIX after the rendered prompt; a named choice
     appends NAMED_PREFIX with the name. The token ids are one encode of the whole text
     (add_special_tokens=False; special-token text is matched as added tokens).
  4. chat_template_kwargs are extra keyword arguments of apply_chat_template;
     add_generation_prompt defaults to true, continue_final_message to false (HF semantics).
transformers itself then drops message keys whose value is None (content: null) before rendering.

Run with the oracle venv (transformers, tokenizers, jinja2; no torch needed):
    .venv-oracle/bin/python tools/reference/text/make_chat_corpus.py
"""
import copy
import hashlib
import json
import pathlib
import re

from tokenizers import Tokenizer
from transformers import AutoTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[3]
OUT = ROOT / "tests" / "fixtures" / "text" / "chat_corpus.json"
TEMPLATE = ROOT / "daemon" / "text" / "default_templates" / "minimax_m2.jinja"
SPEC_TEMPLATE = ROOT.parent / "shared" / "specs" / "data" / "MiniMax-M2.chat_template.jinja"
MODEL = ROOT / "models" / "minimax-m2-tiny" / "fp8"
TEMPLATE_SHA256 = "967ff7e387676f4b4340585da0585416532f1e6c5ee3f1ede64b2c21ef7ea001"

REQUIRED_PREFIX = '</think>\n\n<minimax:tool_call>\n<invoke name="'
NAMED_PREFIX = '</think>\n\n<minimax:tool_call>\n<invoke name="{}">\n'


# ---- building blocks: the shapes real clients send --------------------------------------------

def user(content, **extra):
    return {"role": "user", "content": content, **extra}


def system(content):
    return {"role": "system", "content": content}


def call(name, arguments, cid):
    """A tool call as the openai client sends it back: id, type, function{name, arguments}."""
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": arguments}}


def assistant_calls(*calls, content=None, **extra):
    """An assistant turn that called tools, as the openai client and agent frameworks send it:
    content null, tool_calls with arguments as JSON text."""
    return {"role": "assistant", "content": content, "tool_calls": list(calls), **extra}


def tool_result(cid, content):
    return {"role": "tool", "tool_call_id": cid, "content": content}


def args(**kwargs):
    """Arguments as JSON text, the way the openai client returns them (json.dumps default form)."""
    return json.dumps(kwargs)


# Tools whose keys are deliberately not alphabetical (HF keeps the order; sorting changes the prompt).
WEATHER = {"type": "function", "function": {
    "name": "get_weather",
    "description": "Get the weather forecast for a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "days": {"type": "integer", "description": "Number of forecast days"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}
CALCULATOR = {"type": "function", "function": {
    "parameters": {"required": ["expression"], "type": "object", "properties": {
        "expression": {"type": "string", "description": "An arithmetic expression, e.g. 2*(3+4)"},
        "precision": {"type": "integer", "minimum": 0, "maximum": 12, "default": 6},
        "angle_unit": {"enum": ["rad", "deg"], "type": "string"}}},
    "name": "calculator",
    "description": "Evaluate an arithmetic expression."}}
SEARCH = {"function": {
    "name": "web_search",
    "strict": True,
    "description": "Recherche « web » — 検索 — بحث. Use for <current> facts & 'quotes'.",
    "parameters": {"type": "object", "additionalProperties": False, "properties": {
        "query": {"type": "string"},
        "top_k": {"type": "number", "minimum": 1, "maximum": 50.5},
        "filters": {"type": "object", "properties": {
            "site": {"type": ["string", "null"]},
            "lang": {"type": "string", "default": None},
            "after": {"type": "string", "format": "date"}}},
        "safe": {"type": "boolean", "default": True},
        "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["query", "top_k", "filters", "safe", "tags"]}}, "type": "function"}
REMINDER = {"type": "function", "function": {
    "name": "set_reminder", "description": "Set a reminder.",
    "parameters": {"type": "object", "properties": {
        "text": {"type": "string"}, "minutes": {"type": "integer"}, "urgent": {"type": "boolean"}},
        "required": ["text", "minutes"]}}}
NOARG = {"type": "function", "function": {"name": "get_time_utc", "description": "UTC time now.",
                                          "parameters": {"type": "object", "properties": {}}}}

WEATHER_Q = user("What's the weather in Paris for the next 3 days?")
WEATHER_CALL = assistant_calls(call("get_weather", '{"city": "Paris", "days": 3}', "call_w1"))
WEATHER_RESULT = tool_result("call_w1", '{"forecast": ["sunny", "cloudy", "rain"], "unit": "celsius"}')

LONG_TEXT = "".join(
    f"Paragraph {i}: the quick brown fox jumps over the lazy dog near river {i % 17}, "
    f"then counts {i * 7} sheep and writes notes about weather, code and tools.\n"
    for i in range(160))[:20000]

# ---- the corpus --------------------------------------------------------------------------------

CASES = [
    # single turn
    ("single_turn", {"messages": [user("Hello!")]}),
    ("single_turn_system", {"messages": [system("You are a terse assistant."), user("Hi")]}),
    ("developer_first", {"messages": [{"role": "developer", "content": "Answer in French."},
                                      user("Good morning")]}),
    ("developer_later_dropped", {"messages": [
        system("S"), user("a"), {"role": "developer", "content": "late developer note"},
        {"role": "assistant", "content": "b"}, user("c")]}),
    ("system_later_dropped", {"messages": [user("a"), system("late system"), user("b")]}),
    ("empty_system_uses_default_identity", {"messages": [system(""), user("x")]}),
    ("empty_user_content", {"messages": [user("")]}),
    ("user_name_field", {"messages": [user("Hi, I am Bob.", name="bob")]}),
    ("system_whitespace_kept", {"messages": [system("  Be brief.\n\n  "), user("  spaced  \n")]}),
    # multi-turn
    ("multi_turn", {"messages": [
        system("You are helpful."), user("Tell me a joke."),
        {"role": "assistant", "content": "Why did the chicken cross the road?"},
        user("Why?"), {"role": "assistant", "content": "To get to the other side."},
        user("Another one, please.")]}),
    ("multi_turn_no_generation_prompt", {"messages": [
        user("Hello"), {"role": "assistant", "content": "Hi there"}, user("2+2?")],
        "add_generation_prompt": False}),
    ("ends_with_assistant_no_generation_prompt", {"messages": [
        user("Hello"), {"role": "assistant", "content": "Hi there"}], "add_generation_prompt": False}),
    ("assistant_empty_content", {"messages": [
        user("Say nothing"), {"role": "assistant", "content": ""}, user("ok")]}),
    # tools: definitions
    ("tools_weather", {"messages": [WEATHER_Q], "tools": [WEATHER]}),
    ("tools_keys_not_alphabetical", {"messages": [system("Use tools when needed."),
                                                   user("What is 17*23?")],
                                     "tools": [CALCULATOR, SEARCH]}),
    ("tools_many", {"messages": [user("Remind me in 5 minutes")],
                    "tools": [WEATHER, CALCULATOR, SEARCH, REMINDER, NOARG]}),
    ("tool_choice_auto", {"messages": [WEATHER_Q], "tools": [WEATHER, CALCULATOR],
                          "tool_choice": "auto"}),
    ("tool_choice_none_drops_tools", {"messages": [WEATHER_Q], "tools": [WEATHER, CALCULATOR],
                                      "tool_choice": "none"}),
    ("tool_choice_required", {"messages": [WEATHER_Q], "tools": [WEATHER, CALCULATOR],
                              "tool_choice": "required"}),
    ("tool_choice_named", {"messages": [user("Compute 2*(3+4)")], "tools": [WEATHER, CALCULATOR],
                           "tool_choice": {"type": "function", "function": {"name": "calculator"}}}),
    ("tool_choice_named_after_tool_result", {
        "messages": [WEATHER_Q, WEATHER_CALL, WEATHER_RESULT, user("And in Rome?")],
        "tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
    ("tool_choice_required_after_tool_result", {
        "messages": [WEATHER_Q, WEATHER_CALL, WEATHER_RESULT],
        "tools": [WEATHER, CALCULATOR], "tool_choice": "required"}),
    ("tools_number_forms", {"messages": [user("numbers in a schema")], "tools": [
        {"type": "function", "function": {"name": "tune", "description": "Numbers as Python writes them.",
                                          "parameters": {"type": "object", "properties": {
                                              "a": {"type": "number", "minimum": 0.0, "maximum": 1.0,
                                                    "multipleOf": 0.01},
                                              "b": {"type": "number", "exclusiveMinimum": 1e-06,
                                                    "maximum": 1e10, "default": 1e21},
                                              "c": {"type": "integer", "minimum": -9007199254740993,
                                                    "maximum": 123456789012, "default": -0.0},
                                              "d": {"type": "number", "default": 123456789.125}}}}}]}),
    ("tools_string_escapes", {"messages": [user("escapes in a schema")], "tools": [
        {"type": "function", "function": {
            "name": "quote", "description": "Line1\nLine2\t\"q\" \\ / \u0001 \u001f \u007f \u2028 é 😀 <>&'",
            "parameters": {"type": "object", "properties": {"naïve_ключ": {"type": "string",
                                                                         "pattern": "^[a-z]+\\d{2}$"}}}}}]}),
    ("tools_without_parameters", {"messages": [user("ping")], "tools": [
        {"type": "function", "function": {"name": "ping"}},
        {"type": "function", "function": {"name": "noop", "description": "", "parameters": {}}}]}),
    # tools: history (the agent loop)
    ("tool_call_arguments_string", {"messages": [WEATHER_Q, WEATHER_CALL, WEATHER_RESULT],
                                    "tools": [WEATHER]}),
    ("tool_call_arguments_object", {"messages": [
        WEATHER_Q, assistant_calls(call("get_weather", {"city": "Paris", "days": 3}, "call_w1")),
        WEATHER_RESULT], "tools": [WEATHER]}),
    ("tool_call_arguments_object_key_order", {"messages": [
        WEATHER_Q, assistant_calls(call("get_weather", {"unit": "celsius", "days": 3, "city": "Paris"},
                                        "call_w1")), WEATHER_RESULT], "tools": [WEATHER]}),
    ("tool_call_arguments_string_key_order", {"messages": [
        WEATHER_Q, assistant_calls(call("get_weather", '{"unit": "celsius", "days": 3, "city": "Paris"}',
                                        "call_w1")), WEATHER_RESULT], "tools": [WEATHER]}),
    ("tool_call_arguments_compact_json_text", {"messages": [
        WEATHER_Q, assistant_calls(call("get_weather", '{"city":"Paris","days":3}', "call_w1")),
        WEATHER_RESULT], "tools": [WEATHER]}),
    ("tool_call_arguments_nested", {"messages": [
        user("search recent news about ESA, in French"),
        assistant_calls(call("web_search", json.dumps({
            "query": "ESA news", "top_k": 5,
            "filters": {"site": None, "lang": "fr", "after": "2026-01-01",
                        "extra": {"nested": [1, [2, 3], {"deep": True}], "empty": {}, "none": []}},
            "safe": False, "tags": ["space", "europe", "ünïcödé"]}), "call_s1")),
        tool_result("call_s1", "3 results")], "tools": [SEARCH]}),
    ("tool_call_arguments_scalar_values", {"messages": [
        user("values"),
        assistant_calls(call("web_search", json.dumps({
            "query": "x", "top_k": -7, "ratio": 2.5, "small": 0.1, "zero": 0, "neg_float": -0.25,
            "big": 12345678901234567, "flag": True, "off": False, "nothing": None}), "call_v1")),
        tool_result("call_v1", "ok")], "tools": [SEARCH]}),
    ("tool_call_arguments_number_forms", {"messages": [
        user("numbers"),
        assistant_calls(call("calculator",
                             '{"expression": "1+1", "one": 1.0, "sci": 1e2, "frac": 2.50, "exp": 1.5E-3}',
                             "call_n1")),
        tool_result("call_n1", "2")], "tools": [CALCULATOR]}),
    ("tool_call_arguments_string_values_raw", {"messages": [
        user("strings"),
        assistant_calls(call("calculator", json.dumps({
            "expression": "say \"hi\" \\ <b>&amp;</b>\nline two\ttab",
            "unicode_escaped": "caf\u00e9 \u65e5\u672c",
            "markup": "</parameter><invoke name=\"x\">",
            "empty": ""}), "call_r1")),
        tool_result("call_r1", "done")], "tools": [CALCULATOR]}),
    ("tool_call_arguments_unicode_escapes_in_text", {"messages": [
        user("escapes"),
        assistant_calls(call("web_search", '{"query": "caf\\u00e9 \\ud83d\\ude00", "tags": ["\\u05e9\\u05dc\\u05d5\\u05dd"]}',
                             "call_u1")),
        tool_result("call_u1", "ok")], "tools": [SEARCH]}),
    ("tool_call_arguments_nested_string_escapes", {"messages": [
        user("nested strings"),
        assistant_calls(call("web_search", json.dumps({
            "query": "q", "filters": {"site": "a\"b\\c\nd", "lang": "日本語 é", "after": "</parameter>"}},
            ensure_ascii=False), "call_e1")),
        tool_result("call_e1", "ok")], "tools": [SEARCH]}),
    ("tool_call_empty_arguments", {"messages": [
        user("what time is it in UTC?"), assistant_calls(call("get_time_utc", "{}", "call_t1")),
        tool_result("call_t1", "12:00")], "tools": [NOARG]}),
    ("parallel_tool_calls", {"messages": [
        user("Weather in Paris and Rome?"),
        assistant_calls(call("get_weather", args(city="Paris"), "call_p1"),
                        call("get_weather", args(city="Rome", unit="celsius"), "call_p2")),
        tool_result("call_p1", "sunny"), tool_result("call_p2", "rainy")], "tools": [WEATHER]}),
    ("parallel_tool_calls_mixed_tools_then_answer", {"messages": [
        system("You are an agent."), user("Weather in Oslo, and 12*12?"),
        assistant_calls(call("get_weather", args(city="Oslo"), "call_m1"),
                        call("calculator", args(expression="12*12"), "call_m2"),
                        content="Let me check both."),
        tool_result("call_m1", "snow"), tool_result("call_m2", "144"),
        {"role": "assistant", "content": "Oslo: snow. 12*12 = 144."},
        user("Thanks! And Bergen?")], "tools": [WEATHER, CALCULATOR]}),
    ("tool_result_content_parts", {"messages": [
        WEATHER_Q, WEATHER_CALL,
        tool_result("call_w1", [{"type": "text", "text": "sunny, "}, {"type": "text", "text": "22 C"}])],
        "tools": [WEATHER]}),
    ("tool_result_empty_string", {"messages": [WEATHER_Q, WEATHER_CALL, tool_result("call_w1", "")],
                                  "tools": [WEATHER]}),
    ("tool_result_then_user_then_tool_loop", {"messages": [
        WEATHER_Q, WEATHER_CALL, WEATHER_RESULT,
        {"role": "assistant", "content": "Sunny, then cloudy, then rain."},
        user("Set a reminder to take an umbrella in 30 minutes."),
        assistant_calls(call("set_reminder", args(text="take an umbrella", minutes=30), "call_r9")),
        tool_result("call_r9", "reminder set")], "tools": [WEATHER, REMINDER]}),
    ("assistant_content_empty_string_with_tool_calls", {"messages": [
        WEATHER_Q, assistant_calls(call("get_weather", args(city="Paris"), "call_w1"), content=""),
        WEATHER_RESULT], "tools": [WEATHER]}),
    ("assistant_content_and_tool_calls", {"messages": [
        WEATHER_Q, assistant_calls(call("get_weather", args(city="Paris"), "call_w1"),
                                   content="I'll look that up."), WEATHER_RESULT], "tools": [WEATHER]}),
    ("assistant_empty_tool_calls_list", {"messages": [
        user("hi"), {"role": "assistant", "content": "hello", "tool_calls": []}, user("bye")]}),
    ("openai_model_dump_history", {"messages": [
        # message.model_dump(exclude_none=True) of the openai client: content (null) left out,
        # function{arguments, name}, the daemon's reasoning_content as an extra field.
        WEATHER_Q,
        {"role": "assistant",
         "tool_calls": [{"id": "chatcmpl-tool-1", "function": {"arguments": '{"city": "Paris", "days": 3}',
                                                               "name": "get_weather"}, "type": "function"}],
         "reasoning_content": "The user wants a forecast; call get_weather."},
        {"role": "tool", "tool_call_id": "chatcmpl-tool-1", "content": "sunny"}], "tools": [WEATHER]}),
    ("openai_message_object_with_nulls", {"messages": [
        # messages.append(response.choices[0].message): the client sends every field the server set,
        # nulls included (transformers drops keys whose value is None).
        WEATHER_Q,
        {"content": None, "refusal": None, "role": "assistant", "annotations": None, "audio": None,
         "function_call": None, "tool_calls": [{"id": "call_o1", "function": {
             "arguments": '{"city": "Paris"}', "name": "get_weather"}, "type": "function"}],
         "reasoning_content": None},
        tool_result("call_o1", "sunny")], "tools": [WEATHER]}),
    ("tool_result_null_content", {"messages": [WEATHER_Q, WEATHER_CALL, tool_result("call_w1", None)],
                                  "tools": [WEATHER]}),
    ("assistant_reasoning_only_after_last_user", {"messages": [
        user("think only"), {"role": "assistant", "reasoning_content": "nothing to say"}],
        "add_generation_prompt": False}),
    ("assistant_null_content_no_tool_calls", {"messages": [
        user("hi"), {"role": "assistant", "content": None}, user("still there?")]}),
    ("two_leading_system_messages", {"messages": [system("first"), system("second, dropped"), user("x")]}),
    ("tool_message_with_name", {"messages": [
        WEATHER_Q, WEATHER_CALL, {"role": "tool", "tool_call_id": "call_w1", "name": "get_weather",
                                  "content": "sunny"}], "tools": [WEATHER]}),
    # Integers stay exact across the whole int64 range (and past a double's 2^53); mmd's JSON
    # keeps larger ones as floats (daemon/text/json_value.h), a documented difference from Python.
    ("tool_call_arguments_big_integer", {"messages": [
        user("big"), assistant_calls(call("calculator", '{"expression": "n", "n": 9223372036854775807, '
                                          '"m": -9223372036854775808, "k": 9007199254740993}',
                                          "call_b1")), tool_result("call_b1", "ok")], "tools": [CALCULATOR]}),
    ("langchain_history", {"messages": [
        # langchain-openai: content null when tool_calls exist, arguments json.dumps(ensure_ascii=False).
        system("You are a helpful assistant."), user("Quel temps à Zürich ?"),
        {"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "id": "call_lc1",
             "function": {"name": "get_weather", "arguments": json.dumps({"city": "Zürich"}, ensure_ascii=False)}}]},
        {"role": "tool", "content": "bewölkt, 4 °C", "tool_call_id": "call_lc1"}], "tools": [WEATHER]}),
    # interleaved thinking
    ("reasoning_kept_after_last_user", {"messages": [
        WEATHER_Q, assistant_calls(call("get_weather", args(city="Paris", days=3), "call_w1"),
                                   reasoning_content="Need the forecast tool."),
        WEATHER_RESULT], "tools": [WEATHER]}),
    ("reasoning_dropped_before_last_user", {"messages": [
        user("q1"), {"role": "assistant", "content": "a1", "reasoning_content": "thinking about q1"},
        user("q2")]}),
    ("reasoning_mixed_history", {"messages": [
        system("sys"), user("old question"),
        {"role": "assistant", "content": "old answer", "reasoning_content": "old reasoning, dropped"},
        WEATHER_Q,
        assistant_calls(call("get_weather", args(city="Paris"), "call_w1"),
                        reasoning_content="first step reasoning, kept"),
        WEATHER_RESULT,
        {"role": "assistant", "content": "It will be sunny.", "reasoning_content": "second step, kept"}],
        "tools": [WEATHER], "add_generation_prompt": False}),
    ("reasoning_alias_field", {"messages": [
        user("q"), {"role": "assistant", "content": "answer", "reasoning": "because of X"}],
        "add_generation_prompt": False}),
    ("reasoning_empty_string", {"messages": [
        user("q"), {"role": "assistant", "content": "answer", "reasoning_content": ""}],
        "add_generation_prompt": False}),
    ("think_in_content_after_last_user", {"messages": [
        user("q"), {"role": "assistant", "content": "<think>\nlet me think\n</think>\n\nThe answer is 4."}],
        "add_generation_prompt": False}),
    ("think_in_content_before_last_user", {"messages": [
        user("q"), {"role": "assistant", "content": "<think>\nhidden\n</think>\n\nfour"}, user("and 3+3?")]}),
    ("think_in_content_with_tool_calls", {"messages": [
        WEATHER_Q, assistant_calls(call("get_weather", args(city="Paris"), "call_w1"),
                                   content="<think>\nI need the tool.\n</think>\n\n"),
        WEATHER_RESULT], "tools": [WEATHER]}),
    # content parts
    ("content_parts_user", {"messages": [user([{"type": "text", "text": "Part one. "},
                                               {"type": "text", "text": "Part two."}])]}),
    ("content_parts_system_and_assistant", {"messages": [
        system([{"type": "text", "text": "You are "}, {"type": "text", "text": "concise."}]),
        user([{"type": "text", "text": "Hi"}]),
        {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
        user("How are you?")]}),
    ("content_parts_empty_list", {"messages": [user([]), {"role": "assistant", "content": "ok"},
                                               user("x")]}),
    # unicode
    ("unicode_cjk", {"messages": [system("你是一个乐于助人的助手。"), user("東京の天気は？ 서울 날씨는?")]}),
    ("unicode_emoji", {"messages": [user("Family: 👨‍👩‍👧‍👦, flags 🇫🇷🇯🇵, skin 👍🏽, keycap 1️⃣, 🤖✨")]}),
    ("unicode_rtl", {"messages": [user("مرحبا، كيف حالك؟ שלום עולם \u200fmixed LTR and RTL\u200e")]}),
    ("unicode_combining_marks", {"messages": [
        user("e\u0301 vs \u00e9, Tiếng Việt, a\u0308\u0304, Z\u0351\u0352\u0353algo, \u0915\u094d\u0937, \ufeffbom")]}),
    ("unicode_in_tool_result_and_arguments", {"messages": [
        user("天気?"), assistant_calls(call("get_weather", json.dumps({"city": "東京"}), "call_j1")),
        tool_result("call_j1", "晴れ ☀️ 23°C")], "tools": [WEATHER]}),
    ("special_token_text_in_user_content", {"messages": [
        user("Please print ]~b]ai and <think> and </think> and [e~[ literally.")]}),
    ("control_characters", {"messages": [user("tab\there\r\nCRLF line\x0bvt\x00nul\x7fdel")]}),
    # chat_template_kwargs, add_generation_prompt, continue_final_message
    ("kwargs_model_identity", {"messages": [user("Who are you?")],
                               "chat_template_kwargs": {"model_identity": "You are Mimi, a tiny model."}}),
    ("kwargs_model_identity_ignored_with_system", {"messages": [system("Custom system."), user("Who?")],
                                                   "chat_template_kwargs": {"model_identity": "unused"}}),
    ("kwargs_enable_thinking_false", {"messages": [user("hi")],
                                      "chat_template_kwargs": {"enable_thinking": False}}),
    ("kwargs_with_tools", {"messages": [WEATHER_Q], "tools": [WEATHER],
                           "chat_template_kwargs": {"model_identity": "You are WeatherBot."}}),
    ("continue_final_message", {"messages": [
        user("Name the capital of France."), {"role": "assistant", "content": "The capital of France is"}],
        "add_generation_prompt": False, "continue_final_message": True}),
    ("continue_final_message_with_reasoning", {"messages": [
        user("2+2?"), {"role": "assistant", "content": "The answer", "reasoning_content": "simple sum"}],
        "add_generation_prompt": False, "continue_final_message": True}),
    ("continue_final_message_content_parts", {"messages": [
        user("Count"), {"role": "assistant", "content": [{"type": "text", "text": "One, "},
                                                         {"type": "text", "text": "two, "}]}],
        "add_generation_prompt": False, "continue_final_message": True}),
    ("continue_final_message_trailing_space", {"messages": [
        user("Finish: roses are"), {"role": "assistant", "content": "red, violets are "}],
        "add_generation_prompt": False, "continue_final_message": True}),
    # long
    ("long_message_20kb", {"messages": [system("Summarize."), user(LONG_TEXT)]}),
]

# Requests the reference refuses (mmd answers 400 naming the problem).
ERROR_CASES = [
    ("error_tool_without_prior_call", {"messages": [user("q"), tool_result("call_x", "orphan")]},
     "no previous assistant message with a tool call"),
    ("error_tool_after_plain_assistant", {"messages": [
        user("q"), {"role": "assistant", "content": "no tools here"}, tool_result("call_x", "orphan")]},
     "no previous assistant message with a tool call"),
    ("error_arguments_not_json", {"messages": [
        WEATHER_Q, assistant_calls(call("get_weather", '{"city": "Par', "call_w1")), WEATHER_RESULT],
        "tools": [WEATHER]}, "arguments"),
    ("error_arguments_json_array", {"messages": [
        WEATHER_Q, assistant_calls(call("get_weather", "[1, 2]", "call_w1")), WEATHER_RESULT],
        "tools": [WEATHER]}, "arguments"),
    ("error_arguments_number", {"messages": [
        WEATHER_Q, assistant_calls(call("get_weather", 5, "call_w1")), WEATHER_RESULT],
        "tools": [WEATHER]}, "arguments"),
    ("error_tool_calls_object", {"messages": [
        WEATHER_Q, {"role": "assistant", "content": None,
                    "tool_calls": call("get_weather", args(city="Paris"), "call_w1")}, WEATHER_RESULT],
        "tools": [WEATHER]}, "tool_calls"),
    ("error_tool_call_without_name", {"messages": [
        WEATHER_Q, assistant_calls({"id": "call_w1", "type": "function", "function": {"arguments": "{}"}}),
        WEATHER_RESULT], "tools": [WEATHER]}, "name"),
    ("error_tool_call_without_arguments", {"messages": [
        WEATHER_Q, assistant_calls({"id": "call_w1", "type": "function", "function": {"name": "get_weather"}}),
        WEATHER_RESULT], "tools": [WEATHER]}, "arguments"),
    ("error_tool_calls_entry_not_an_object", {"messages": [
        WEATHER_Q, {"role": "assistant", "content": None, "tool_calls": ["get_weather"]}, WEATHER_RESULT],
        "tools": [WEATHER]}, "tool_calls"),
    ("error_continue_final_message_with_generation_prompt", {"messages": [
        user("q"), {"role": "assistant", "content": "partial"}],
        "add_generation_prompt": True, "continue_final_message": True}, "continue_final_message"),
    ("error_continue_final_message_without_content", {"messages": [
        WEATHER_Q, assistant_calls(call("get_weather", args(city="Paris"), "call_w1"))],
        "tools": [WEATHER], "add_generation_prompt": False, "continue_final_message": True},
     "continue_final_message"),
    ("error_empty_messages", {"messages": []}, "messages"),
]


# ---- the oracle --------------------------------------------------------------------------------

def serving_messages(messages):
    """mmd's (and vLLM's) serving-layer edits of the messages, before the template sees them."""
    out = []
    for message in copy.deepcopy(messages):
        if message.get("role") == "developer":
            message["role"] = "system"
        if "reasoning" in message and "reasoning_content" not in message:
            message["reasoning_content"] = message.pop("reasoning")
        calls = message.get("tool_calls")
        if message.get("role") == "assistant" and isinstance(calls, list):
            for c in calls:
                function = c.get("function") if isinstance(c, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    function["arguments"] = json.loads(function["arguments"])
        out.append(message)
    return out


def render(tokenizer, template, request):
    tool_choice = request.get("tool_choice")
    tools = None if tool_choice == "none" else request.get("tools")
    text = tokenizer.apply_chat_template(
        serving_messages(request["messages"]), tools=tools, chat_template=template, tokenize=False,
        add_generation_prompt=request.get("add_generation_prompt", True),
        continue_final_message=request.get("continue_final_message", False),
        **request.get("chat_template_kwargs", {}))
    if tool_choice == "required":
        text += REQUIRED_PREFIX
    elif isinstance(tool_choice, dict):
        text += NAMED_PREFIX.format(tool_choice["function"]["name"])
    return text


def main():
    template = TEMPLATE.read_text()
    for path in (TEMPLATE, SPEC_TEMPLATE, MODEL / "chat_template.jinja"):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == TEMPLATE_SHA256, f"{path}: sha256 {digest}, expected {TEMPLATE_SHA256}"
    tokenizer = AutoTokenizer.from_pretrained(str(MODEL))
    raw = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    names = [n for n, _ in CASES] + [n for n, _, _ in ERROR_CASES]
    assert len(names) == len(set(names)), "duplicate case names"

    corpus = []
    for name, request in CASES:
        prompt = render(tokenizer, template, request)
        ids = tokenizer.encode(prompt, add_special_tokens=False)
        assert ids == raw.encode(prompt, add_special_tokens=False).ids, name
        corpus.append({"name": name, "request": request, "prompt": prompt, "prompt_token_ids": ids})
    for name, request, needle in ERROR_CASES:
        try:
            prompt = render(tokenizer, template, request)
        except Exception as e:  # noqa: BLE001 - the oracle records that the reference raised
            corpus.append({"name": name, "request": request, "error": needle,
                           "python_error": f"{type(e).__name__}: {e}"[:300]})
            continue
        raise AssertionError(f"{name}: the reference rendered it:\n{prompt}")
    text = json.dumps(corpus, ensure_ascii=False, indent=1)
    # One line per id list (the ids of a 20 KB prompt would otherwise take 8,000 lines).
    text = re.sub(r"\[\n\s*(\d+(?:,\n\s*\d+)*)\n\s*\]",
                  lambda m: "[" + re.sub(r",\n\s*", ", ", m.group(1)) + "]", text)
    OUT.write_text(text + "\n")
    print(f"wrote {len(CASES)} cases and {len(ERROR_CASES)} error cases to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
