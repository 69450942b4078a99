#!/usr/bin/env python3
"""Renders mmd's chat-template test cases with Python jinja2 the way Hugging Face does
(transformers' render_jinja_template) and writes tests/fixtures/text/template_cases.json.

Each case: template (repo-relative path) or source (inline), inputs {messages, tools,
add_generation_prompt, extra}, and either expected (the rendered string) or error (true when jinja2
raised, e.g. raise_exception)."""
import json
import pathlib

from transformers.utils.chat_template_utils import render_jinja_template

ROOT = pathlib.Path(__file__).resolve().parents[3]
OUT = ROOT / "tests" / "fixtures" / "text" / "template_cases.json"
MINIMAX = "daemon/text/default_templates/minimax_m2.jinja"
T = "tests/fixtures/text/templates/"

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Get weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}}
SEARCH = {"type": "function", "function": {"name": "search", "description": "Recherche « web » — 検索", "parameters": {
    "type": "object", "properties": {"q": {"type": "string"}, "filters": {"type": "object"},
                                     "top_k": {"type": "number"}, "safe": {"type": "boolean"}}}}}


def call(name, args, cid="call_1"):
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


SPEC_EXAMPLE = [
    {"role": "system", "content": "SYS"},
    {"role": "user", "content": "U1"},
    {"role": "assistant", "content": "<think>\nR1\n</think>\n\nA1"},
    {"role": "user", "content": "U2"},
    {"role": "assistant", "content": "pre", "reasoning_content": "R2",
     "tool_calls": [call("get_weather", {"city": "Paris", "days": 3}),
                    call("get_weather", {"city": "Rome", "days": [1, 2]}, "call_2")]},
    {"role": "tool", "content": "T1"},
    {"role": "tool", "content": [{"type": "text", "text": "T2"}]},
]

MINIMAX_CASES = [
    ("minimal", {"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": True}),
    ("spec_example", {"messages": SPEC_EXAMPLE, "tools": [WEATHER], "add_generation_prompt": True}),
    ("no_generation_prompt", {"messages": SPEC_EXAMPLE[:4]}),
    ("system_date_location", {"messages": [
        {"role": "system", "content": "Be brief.", "current_date": "2026-11-22", "current_location": "Paris"},
        {"role": "user", "content": "Quelle heure est-il ?"}], "add_generation_prompt": True}),
    ("empty_system_uses_identity", {"messages": [{"role": "system", "content": ""}, {"role": "user", "content": "x"}],
                                    "add_generation_prompt": True}),
    ("tools_without_system", {"messages": [{"role": "user", "content": "search for 東京"}],
                              "tools": [WEATHER, SEARCH], "add_generation_prompt": True}),
    ("content_parts", {"messages": [
        {"role": "system", "content": [{"type": "text", "text": "Part A. "}, {"type": "text", "text": "Part B."}]},
        {"role": "user", "content": [{"type": "image", "url": "x.png"}, {"type": "text", "text": "what is this?"},
                                     "raw string part"]}], "add_generation_prompt": True}),
    ("later_system_and_developer_dropped", {"messages": [
        {"role": "user", "content": "a"}, {"role": "system", "content": "LATE"},
        {"role": "developer", "content": "DEV"}, {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"}], "add_generation_prompt": True}),
    ("current_turn_reasoning_kept", {"messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "<think>\nneed tool\n</think>\n\n",
         "tool_calls": [call("get_weather", {"city": "Zürich", "note": "say \"hi\" \\ ok", "opts": {"unit": "°C", "x": None, "ok": True, "f": 1.5}})]},
        {"role": "tool", "content": "{\"temp\": 3}"},
        {"role": "assistant", "content": "It is 3°C."}], "tools": [WEATHER], "add_generation_prompt": False}),
    ("reasoning_alias_field", {"messages": [
        {"role": "user", "content": "q"}, {"role": "assistant", "content": "answer", "reasoning": "because"}],
        "add_generation_prompt": False}),
    ("tool_results_list_output", {"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "", "tool_calls": [call("search", {"q": "x"})]},
        {"role": "tool", "content": [{"output": "O1"}, {"type": "text", "text": "O2"}, {"type": "image"}]},
        {"role": "user", "content": "thanks"}], "add_generation_prompt": True}),
    ("tool_without_call_raises", {"messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "x"}]}),
    ("multi_think_in_content", {"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "\n<think>\nfirst\n<think>\nsecond\n</think>\n\nmid</think>\n\nfinal\n"}],
        "add_generation_prompt": True}),
    ("enable_thinking_kwarg_ignored", {"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": True,
                                       "extra": {"enable_thinking": False}}),
]

CHAT = [{"role": "system", "content": "  You are terse.  "}, {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi there"}, {"role": "user", "content": "2+2?"}]
NO_SYS = CHAT[1:]
TOOL_CHAT = [{"role": "system", "content": "sys"}, {"role": "user", "content": "weather in Paris?"},
             {"role": "assistant", "content": None, "tool_calls": [call("get_weather", {"city": "Paris"})]},
             {"role": "tool", "content": "sunny"}, {"role": "tool", "content": "also windy"},
             {"role": "assistant", "content": "Sunny and windy."}]
TOKENS = {"bos_token": "<s>", "eos_token": "</s>"}

OTHER_CASES = [
    (T + "chatml_qwen_style.jinja", "plain", {"messages": CHAT, "add_generation_prompt": True}),
    (T + "chatml_qwen_style.jinja", "tools", {"messages": TOOL_CHAT, "tools": [WEATHER, SEARCH], "add_generation_prompt": True}),
    (T + "chatml_qwen_style.jinja", "no_system", {"messages": NO_SYS}),
    (T + "llama3_style.jinja", "plain", {"messages": CHAT, "add_generation_prompt": True, "extra": {"bos_token": "<|begin_of_text|>"}}),
    (T + "llama3_style.jinja", "tools", {"messages": [TOOL_CHAT[0], TOOL_CHAT[1], TOOL_CHAT[2], TOOL_CHAT[3]],
                                         "tools": [WEATHER], "add_generation_prompt": True,
                                         "extra": {"bos_token": "<|begin_of_text|>", "date_string": "22 Nov 2026"}}),
    (T + "llama3_style.jinja", "tools_no_user_raises", {"messages": [{"role": "system", "content": "s"}], "tools": [WEATHER],
                                                        "extra": {"bos_token": ""}}),
    (T + "mistral_style.jinja", "plain", {"messages": CHAT, "extra": TOKENS}),
    (T + "mistral_style.jinja", "alternation_raises", {"messages": [CHAT[1], CHAT[1]], "extra": TOKENS}),
    (T + "gemma_style.jinja", "plain", {"messages": NO_SYS, "add_generation_prompt": True, "extra": {"bos_token": "<bos>"}}),
    (T + "gemma_style.jinja", "system_raises", {"messages": CHAT, "extra": {"bos_token": "<bos>"}}),
    (T + "qwen3_style.jinja", "agentic_turn", {"messages": [
        {"role": "system", "content": "sys"}, {"role": "user", "content": "old q"},
        {"role": "assistant", "content": "<think>\nold reasoning\n</think>\n\nold answer"},
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": "", "reasoning_content": "need the tool",
         "tool_calls": [call("get_weather", {"city": "Paris"}), call("get_weather", '{"city": "Rome"}', "c2")]},
        {"role": "tool", "content": "sunny"}, {"role": "tool", "content": "rainy"},
        {"role": "assistant", "content": "<think>compare</think>Paris is sunny, Rome rainy."}],
        "tools": [WEATHER], "add_generation_prompt": True}),
    (T + "qwen3_style.jinja", "thinking_off", {"messages": NO_SYS, "add_generation_prompt": True,
                                               "extra": {"enable_thinking": False}}),
    (T + "deepseek_style.jinja", "plain", {"messages": [CHAT[0], CHAT[1], {"role": "assistant", "content": "<think>x</think>Hi"}, CHAT[3]],
                                           "add_generation_prompt": True, "extra": {"bos_token": "<｜begin▁of▁sentence｜>"}}),
    (T + "deepseek_style.jinja", "tools", {"messages": TOOL_CHAT, "add_generation_prompt": True,
                                           "extra": {"bos_token": "<bos>"}}),
]

# Inline snippets for engine features (rendered in the same environment).
FEATURES = {
    "whitespace_control": "a  {{- ' b ' -}}  c\n  {% if true %}\n    d\n  {% endif %}\n{# comment #}\ne {%+ if true %}f{% endif %}\n",
    "loop_vars": "{% for x in items %}{{ loop.index }}/{{ loop.length }}{{ '|' if not loop.last }}{{ loop.first }}{{ loop.revindex0 }}{{ loop.previtem is defined }}{% endfor %}",
    "loop_else_filter_break": "{% for x in items if x > 1 %}{% if x == 4 %}{% break %}{% endif %}{% if x == 2 %}{% continue %}{% endif %}[{{ x }}]{% else %}none{% endfor %}{% for y in [] %}y{% else %}empty{% endfor %}",
    "unpack_items": "{% for k, v in obj.items() %}{{ k }}={{ v }};{% endfor %}{% for k, v in obj | items %}{{ k }}{% endfor %}{% for k, v in obj | dictsort %}{{ k }}:{{ v }},{% endfor %}",
    "namespace_scope": "{% set n = 0 %}{% set ns = namespace(c=0, s='') %}{% for i in range(4) %}{% set n = n + 1 %}{% set ns.c = ns.c + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ n }} {{ ns.c }} {{ ns.s }}",
    "macro_defaults": "{% macro greet(name, punct='!') -%}Hi {{ name }}{{ punct }}{%- endmacro %}{{ greet('A') }} {{ greet('B', punct='?') }} {{ greet(name='C') }}",
    "string_methods": "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ s.strip(' x') }}|{{ s.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a b c'.split(' ', 1) }}|{{ s.upper() }}|{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}|{{ s.startswith('  x') }}|{{ 'abc'.endswith(('z', 'c')) }}|{{ 'a-b-c'.replace('-', '+') }}|{{ 'a-b'.rsplit('-', 1) }}",
    "slicing_unicode": "{{ u[1:3] }}|{{ u[-2:] }}|{{ u[::-1] }}|{{ u[0] }}|{{ u | length }}|{{ items[1:] }}|{{ items[::2] }}|{{ items[-1] }}|{{ items[:-1] }}",
    "filters": "{{ items | join(', ') }}|{{ items | first }}|{{ items | last }}|{{ items | length }}|{{ items | reverse | list }}|{{ items | sort(reverse=true) }}|{{ items | sum }}|{{ items | min }}|{{ items | max }}|{{ ['b', 'a', 'b'] | unique | list }}|{{ '  t  ' | trim }}|{{ 'x' | upper }}|{{ undefined_var | default('dflt') }}|{{ '' | default('e', true) }}|{{ 3.7 | int }}|{{ '42' | int + 1 }}|{{ 2 | float }}|{{ -3 | abs }}|{{ 2.567 | round(2) }}",
    "tojson_options": "{{ obj | tojson }}|{{ obj | tojson(indent=2) }}|{{ obj | tojson(separators=(',', ':'), sort_keys=true) }}|{{ 'é\"<>' | tojson }}|{{ 'é' | tojson(ensure_ascii=true) }}|{{ [1.0, 1e20, 0.1, -0.0, 1e-7] | tojson }}",
    "tests": "{{ x is defined }}{{ nope is undefined }}{{ none is none }}{{ 's' is string }}{{ obj is mapping }}{{ items is iterable }}{{ items is sequence }}{{ 3 is number }}{{ 3 is integer }}{{ 3.0 is float }}{{ true is boolean }}{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 'a' is in 'abc' }}{{ obj is not string }}{{ 2 is sameas 2 }}",
    "operators": "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ 'x' ~ 1 ~ none }} {{ 1 == 1.0 }} {{ 'b' > 'a' }} {{ 'x' in 'xyz' }} {{ 3 not in items }} {{ not true or false and true }} {{ (1 if false) is defined }} {{ 'y' if 0 else 'n' }}",
    "printing": "{{ items }} {{ obj }} {{ none }} {{ true }} {{ 1.5 }} {{ 10.0 }} {{ 'it\\'s' }} {{ [\"it's\", 'a\"b'] }} {{ (1, 2) | list }}",
    "set_block_and_filter_block": "{% set block %}Line {{ 1 + 1 }}\n{% endset %}[{{ block }}]{% filter upper %}shout {{ 'me' }}{% endfilter %}",
    "selectattr_map": "{{ people | selectattr('age', 'gt', 30) | map(attribute='name') | join(',') }}|{{ people | rejectattr('admin') | map(attribute='name') | list }}|{{ people | map(attribute='name') | select('equalto', 'Bo') | list }}|{{ people | sort(attribute='age') | map(attribute='age') | list }}",
    "dict_and_get": "{% set d = dict(a=1, b='x') %}{{ d }}|{{ d.get('a') }}|{{ d.get('z', 'miss') }}|{{ d.keys() | list }}|{{ d['b'] }}|{{ obj.missing is defined }}|{{ 'k' in obj }}",
    "raw_and_comments": "{% raw %}{{ not rendered }}{% endraw %}{# hidden #}x",
    "indent_filter": "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(3, true) }}",
    "lstrip_blocks_line_start": "line1\n    {% if true %}\n    indented\n    {% endif %}\nend",
    "undefined_attr_error": "{{ nope.attr }}",
    "generation_block": "{% generation %}kept{% endgeneration %}",
    "chained_comparison": "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 1 == 1 != 2 }} {{ 'a' in 'ab' in 'xab' }} {% for i in items if 1 < i <= 3 %}{{ i }}{% endfor %}",
    "loop_cycle_and_nested": "{% for r in [1, 2] %}{% for c in 'ab' %}{{ loop.cycle('x', 'y') }}{{ r }}{{ c }}{{ loop.depth }}{% endfor %}|{% endfor %}",
}
FEATURE_VARS = {"items": [1, 2, 3, 4], "obj": {"b": [1, {"c": None}], "a": "é", "k": True}, "s": "  x Hello  ",
                "u": "héllo→世界", "x": 1,
                "people": [{"name": "Al", "age": 40, "admin": True}, {"name": "Bo", "age": 25}, {"name": "Cy", "age": 31}]}


def render(source, inputs):
    try:
        rendered, _ = render_jinja_template(
            conversations=[inputs.get("messages", [])], tools=inputs.get("tools"), chat_template=source,
            add_generation_prompt=inputs.get("add_generation_prompt", False), **inputs.get("extra", {}))
        return {"expected": rendered[0], "error": False}
    except Exception as e:  # noqa: BLE001 - the oracle records that jinja2 raised
        return {"expected": None, "error": True, "python_error": f"{type(e).__name__}: {e}"}


def main():
    cases = []
    minimax = (ROOT / MINIMAX).read_text()
    for name, inputs in MINIMAX_CASES:
        cases.append({"name": "minimax_m2/" + name, "template": MINIMAX, "inputs": inputs, **render(minimax, inputs)})
    for path, name, inputs in OTHER_CASES:
        source = (ROOT / path).read_text()
        cases.append({"name": pathlib.Path(path).stem + "/" + name, "template": path, "inputs": inputs,
                      **render(source, inputs)})
    for name, source in FEATURES.items():
        inputs = {"messages": [], "extra": FEATURE_VARS}
        cases.append({"name": "feature/" + name, "source": source, "inputs": inputs, **render(source, inputs)})
    OUT.write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
