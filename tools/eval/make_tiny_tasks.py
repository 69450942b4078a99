#!/usr/bin/env python3
"""Writes the small lm-eval tasks mmd is scored on (tests/eval/tasks/*.jsonl), for the bundled
tiny model: requests in the shape it was trained on (tools/train/gen_data.py), rendered with its
chat template (tools/train/chat_template.jinja, through gen_data's renderer) with the needed tool and one
other offered, so the documents carry the whole prompt and lm-eval needs no template.

- tiny_tool_reasoning (multiple choice, loglikelihood): after a user request, which first
  reasoning sentence follows: the one about this request, or one of three about other tools.
- tiny_tool_reasoning_gen (generate_until): the same prompts; the model writes that first
  sentence itself, up to its period; exact match.

Seeded: re-running gives byte-identical files. Usage: tools/eval/make_tiny_tasks.py [OUT_DIR]
"""
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from gen_data import TOOLS, Renderer  # noqa: E402

SYSTEM = "You are a helpful assistant."
CITIES = ["Paris", "London", "Berlin", "Madrid", "Rome", "Tokyo", "Oslo", "Cairo", "Lima",
          "Chicago", "Denver", "Toronto", "Dublin", "Vienna", "Prague", "Lisbon",
          # Never in the training data (gen_data's CITIES_UNSEEN): copied, not recited.
          "Geneva", "Bergen", "Porto", "Kyoto", "Quito", "Tunis", "Hanoi", "Perth"]
TIMEZONES = {"Paris": "Europe/Paris", "London": "Europe/London", "Berlin": "Europe/Berlin",
             "Madrid": "Europe/Madrid", "Rome": "Europe/Rome", "Tokyo": "Asia/Tokyo",
             "Oslo": "Europe/Oslo", "Cairo": "Africa/Cairo", "Lima": "America/Lima",
             "Chicago": "America/Chicago", "Denver": "America/Denver",
             "Toronto": "America/Toronto", "Dublin": "Europe/Dublin",
             "Vienna": "Europe/Vienna", "Prague": "Europe/Prague", "Lisbon": "Europe/Lisbon"}
UNITS = [("km", "miles"), ("miles", "km"), ("kg", "pounds"), ("pounds", "kg"),
         ("meters", "feet"), ("feet", "meters"), ("liters", "gallons"), ("cm", "inches")]
OPS = [("+", "plus"), ("-", "minus"), ("*", "times")]


RENDER = Renderer()
OFFERED = ["get_weather", "calculate", "convert_units", "get_time"]


def chat_prompt(r, user, kind):
    # [system, user] with the needed tool and one other offered, in a seeded order (short
    # prompts keep a scoring run quick), and the generation prompt, which opens the reasoning
    # block (<think>) the model writes first.
    needed = {"weather": "get_weather", "time": "get_time", "convert": "convert_units",
              "calc": "calculate"}[kind]
    names = [needed, r.choice([n for n in OFFERED if n != needed])]
    r.shuffle(names)
    return RENDER([{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
                  tools=[TOOLS[n] for n in names], add_generation_prompt=True)


def request(r, kind):
    """(user text, the reasoning's first sentence without its period)."""
    if kind == "weather":
        city = r.choice(CITIES)
        user = r.choice([f"What's the weather in {city}?", f"Can you check the weather in {city}?",
                         f"Will it rain in {city}?"])
        return user, f"The user wants the weather in {city}"
    if kind == "time":
        city = r.choice(CITIES)
        user = r.choice([f"What time is it in {city}?", f"Tell me the current time in {city}."])
        return user, f"The user asks for the time in {city}"
    if kind == "convert":
        fu, tu = r.choice(UNITS)
        v = r.randint(2, 500)
        user = r.choice([f"Convert {v} {fu} to {tu}.", f"What is {v} {fu} in {tu}?"])
        return user, f"The user wants to convert {v} {fu} into {tu}"
    sym, word = r.choice(OPS)
    a, b = r.randint(2, 999), r.randint(2, 99)
    user = r.choice([f"What is {a} {sym} {b}?", f"Please work out {a} {sym} {b} for me."])
    return user, f"The user wants {a} {sym} {b}"


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] /
               "tests" / "eval" / "tasks")
    out.mkdir(parents=True, exist_ok=True)
    r = random.Random(20261201)
    kinds = ["weather", "time", "convert", "calc"]
    docs = []
    for i in range(24):
        kind = kinds[i % 4]
        user, sentence = request(r, kind)
        # Three distractors: first sentences of requests for the other tools.
        wrong = [request(r, k)[1] for k in kinds if k != kind]
        choices = [sentence] + wrong
        r.shuffle(choices)
        docs.append({"id": i, "kind": kind, "prompt": chat_prompt(r, user, kind),
                     "choices": [c + "." for c in choices], "label": choices.index(sentence),
                     "answer": sentence})
    with open(out / "tiny_tool_reasoning.jsonl", "w") as f:
        for d in docs:
            f.write(json.dumps(d, sort_keys=True) + "\n")
    print(f"wrote {len(docs)} documents to {out / 'tiny_tool_reasoning.jsonl'}")


if __name__ == "__main__":
    main()
