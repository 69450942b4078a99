#!/usr/bin/env python3
"""Generate the training / evaluation corpus for the tiny MiniMax-M2 model.

Every conversation is rendered with the real MiniMax-M2 chat template (the copy in
shared/specs/data, vendored here as chat_template.jinja) using the same Jinja2 environment
Hugging Face uses, so the model learns exactly the byte sequences the daemon will render and
parse. Everything is deterministic given --seed.

Outputs (in --out):
  train.jsonl        {"text": rendered conversation or plain English}
  heldout.jsonl      same distribution, different seed, for perplexity
  calib.jsonl        calibration texts for AWQ / KV scales (training distribution)
  prompts_heldin.jsonl / prompts_heldout.jsonl / prompts_unseen.jsonl
                     {"messages", "tools", "expect": {...}} for greedy-decoding evaluation
"""
import argparse
import json
import os
import random
import re
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = Path(__file__).resolve().parent
TEMPLATE_PATH = HERE / "chat_template.jinja"
FORTUNE_DIR = Path("/usr/share/games/fortunes")
# Non-offensive fortune databases with mostly prose English.
FORTUNE_FILES = ["fortunes", "wisdom", "literature", "people", "science", "computers",
                 "humorists", "education", "work", "love", "food", "platitudes",
                 "definitions", "law", "politics", "medicine", "miscellaneous", "songs-poems",
                 "linux", "pets", "sports", "magic", "goedel", "riddles", "paradoxum", "zippy",
                 "translate-me", "linuxcookie", "kids", "ethnic", "art", "cookie", "men-women",
                 "news", "startrek", "debian", "drugs", "disclaimer", "humorix-misc"]


# ----------------------------------------------------------------------------- template
def make_env():
    """Jinja2 environment configured like transformers' chat-template renderer."""
    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                          separators=separators, sort_keys=sort_keys)

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


class Renderer:
    def __init__(self):
        self.tmpl = make_env().from_string(TEMPLATE_PATH.read_text())

    def __call__(self, messages, tools=None, add_generation_prompt=False):
        return self.tmpl.render(messages=messages, tools=tools,
                                add_generation_prompt=add_generation_prompt)


# ----------------------------------------------------------------------------- tools
def fn(name, desc, props, required):
    return {"type": "function", "function": {
        "name": name, "description": desc,
        "parameters": {"type": "object", "properties": props, "required": required}}}


TOOLS = {
    "get_weather": fn("get_weather", "Get the weather forecast for a city.", {
        "city": {"type": "string", "description": "City name"},
        "days": {"type": "integer", "description": "Number of forecast days"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, ["city"]),
    "calculate": fn("calculate", "Apply an arithmetic operation to two numbers.", {
        "a": {"type": "number"}, "b": {"type": "number"},
        "op": {"type": "string", "enum": ["add", "subtract", "multiply", "divide"]}},
        ["a", "b", "op"]),
    "convert_units": fn("convert_units", "Convert a quantity from one unit to another.", {
        "value": {"type": "number"}, "from_unit": {"type": "string"},
        "to_unit": {"type": "string"}}, ["value", "from_unit", "to_unit"]),
    "get_time": fn("get_time", "Get the current local time in a time zone.", {
        "timezone": {"type": "string", "description": "IANA time zone"}}, ["timezone"]),
    "read_file": fn("read_file", "Read the first lines of a file.", {
        "path": {"type": "string"}, "max_lines": {"type": "integer"}}, ["path"]),
    "search_files": fn("search_files", "Find files whose name matches a pattern.", {
        "pattern": {"type": "string"}, "directory": {"type": "string"},
        "recursive": {"type": "boolean"}}, ["pattern"]),
    "set_reminder": fn("set_reminder", "Set a reminder.", {
        "text": {"type": "string"}, "minutes": {"type": "integer"},
        "urgent": {"type": "boolean"}}, ["text", "minutes"]),
}

# Entity pools. The *_UNSEEN pools never appear in training data: they measure whether the
# model copies arguments from the request rather than reciting memorised values.
CITIES = ["Paris", "London", "Berlin", "Madrid", "Rome", "Tokyo", "Oslo", "Cairo", "Lima",
          "Boston", "Chicago", "Denver", "Seattle", "Toronto", "Dublin", "Vienna", "Prague",
          "Lisbon", "Athens", "Warsaw", "Sydney", "Nairobi", "Mumbai", "Delhi", "Seoul",
          "Beijing", "Moscow", "Helsinki", "Zurich", "Munich", "Austin", "Miami", "Dallas",
          "Phoenix", "Montreal", "Santiago", "Bogota", "Havana", "Manila", "Jakarta"]
CITIES_UNSEEN = ["Geneva", "Bergen", "Porto", "Kyoto", "Quito", "Tunis", "Hanoi", "Perth"]
TIMEZONES = {"Paris": "Europe/Paris", "London": "Europe/London", "Berlin": "Europe/Berlin",
             "Madrid": "Europe/Madrid", "Rome": "Europe/Rome", "Tokyo": "Asia/Tokyo",
             "Oslo": "Europe/Oslo", "Cairo": "Africa/Cairo", "Lima": "America/Lima",
             "Chicago": "America/Chicago", "Denver": "America/Denver",
             "Toronto": "America/Toronto", "Dublin": "Europe/Dublin",
             "Vienna": "Europe/Vienna", "Prague": "Europe/Prague", "Lisbon": "Europe/Lisbon",
             "Athens": "Europe/Athens", "Warsaw": "Europe/Warsaw",
             "Sydney": "Australia/Sydney", "Nairobi": "Africa/Nairobi",
             "Seoul": "Asia/Seoul", "Moscow": "Europe/Moscow", "Helsinki": "Europe/Helsinki",
             "Zurich": "Europe/Zurich", "Santiago": "America/Santiago",
             "Bogota": "America/Bogota", "Havana": "America/Havana", "Manila": "Asia/Manila",
             "Jakarta": "Asia/Jakarta", "Montreal": "America/Montreal"}
TZ_UNSEEN = {"Geneva": "Europe/Zurich", "Porto": "Europe/Lisbon", "Kyoto": "Asia/Tokyo",
             "Quito": "America/Guayaquil", "Hanoi": "Asia/Ho_Chi_Minh", "Perth": "Australia/Perth"}
UNITS = [("km", "miles", 0.621371), ("miles", "km", 1.609344), ("kg", "pounds", 2.204623),
         ("pounds", "kg", 0.453592), ("celsius", "fahrenheit", None),
         ("fahrenheit", "celsius", None), ("meters", "feet", 3.280840),
         ("feet", "meters", 0.3048), ("liters", "gallons", 0.264172),
         ("gallons", "liters", 3.785412), ("cm", "inches", 0.393701),
         ("inches", "cm", 2.54)]
FILES = ["notes.txt", "todo.md", "config.yaml", "README.md", "main.py", "server.log",
         "data.csv", "report.txt", "setup.cfg", "index.html", "Makefile", "app.js"]
FILES_UNSEEN = ["budget.xlsx", "deploy.sh", "schema.sql", "poem.txt"]
DIRS = ["/home/user", "/etc", "/var/log", "/tmp", "/srv/app", "/opt/tools", "~/projects",
        "/usr/share/doc"]
REMINDERS = ["call mom", "water the plants", "check the oven", "join the meeting",
             "take a break", "buy milk", "send the report", "feed the cat",
             "stretch", "pay the rent", "backup the laptop", "walk the dog"]
CONDITIONS = ["sunny", "cloudy", "rainy", "windy", "snowy", "foggy", "clear", "stormy"]
OPS = {"add": ("+", "plus", "sum of"), "subtract": ("-", "minus", "difference of"),
       "multiply": ("*", "times", "product of"), "divide": ("/", "divided by", "quotient of")}

SMALLTALK = [
    ("Hi!", "The user greets me. I should greet back briefly and offer help.",
     "Hello! How can I help you today?"),
    ("Hello, who are you?", "The user asks who I am. I am a small assistant model.",
     "I am a tiny MiniMax-M2 style assistant. I can chat and call tools."),
    ("Thanks a lot!", "The user thanks me. A short polite reply is enough.",
     "You are welcome! Let me know if you need anything else."),
    ("What can you do?", "The user asks about my abilities. I should list them.",
     "I can answer simple questions, do arithmetic, and use tools such as weather, time, "
     "unit conversion and file lookups when they are offered."),
    ("Good morning.", "A greeting. I will answer in kind.",
     "Good morning! What would you like to do today?"),
    ("How are you?", "The user asks how I am. I answer briefly.",
     "I am doing well, thank you. How can I help?"),
    ("Goodbye.", "The user is leaving. I say goodbye.", "Goodbye! Have a nice day."),
]


def num(x):
    """Integral floats become ints so the rendered JSON matches what the user typed."""
    return int(x) if isinstance(x, float) and x.is_integer() else x


def fmt_num(x):
    """Render a number the way json.dumps would (ints stay ints)."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return json.dumps(x)


# ----------------------------------------------------------------------------- fortunes
def load_fortunes():
    out = []
    for name in FORTUNE_FILES:
        p = FORTUNE_DIR / name
        if not p.exists():
            continue
        raw = p.read_text(encoding="latin-1")
        for chunk in raw.split("\n%\n"):
            t = chunk.strip("\n% ")
            # Keep short, printable-ASCII prose: the vocabulary is tiny and the model small.
            if 40 <= len(t) <= 400 and all(32 <= ord(c) < 127 or c in "\n\t" for c in t):
                out.append(re.sub(r"[ \t]+", " ", t))
    out = sorted(set(out))
    return out


# ----------------------------------------------------------------------------- generator
class Gen:
    def __init__(self, rng, fortunes, unseen=False):
        self.r = rng
        self.fortunes = fortunes
        self.unseen = unseen  # draw entities from the never-trained pools

    # -- helpers
    def pick(self, xs):
        return self.r.choice(xs)

    def city(self):
        return self.pick(CITIES_UNSEEN if self.unseen else CITIES)

    def tz_city(self):
        pool = TZ_UNSEEN if self.unseen else TIMEZONES
        c = self.pick(sorted(pool))
        return c, pool[c]

    def system(self):
        sysmsg = self.pick(["You are a helpful assistant.", "You are a concise assistant.",
                            "You are a helpful assistant that uses tools when useful.",
                            "You are mmd, a small local assistant."])
        m = {"role": "system", "content": sysmsg}
        if self.r.random() < 0.2:
            m["current_date"] = f"2026-{self.r.randint(1, 12):02d}-{self.r.randint(1, 28):02d}"
        return m

    def toolset(self, needed):
        """The needed tool plus up to two distractors, in random order."""
        others = [t for t in sorted(TOOLS) if t not in needed]
        k = self.r.choice([0, 1, 1, 2])
        names = list(needed) + self.r.sample(others, k)
        self.r.shuffle(names)
        return [TOOLS[n] for n in names]

    # -- each task returns (user_text, tool_name, args, reasoning, result, answer_reasoning, answer)
    def task_weather(self):
        city = self.city()
        args = {"city": city}
        days = None
        if self.r.random() < 0.6:
            days = self.r.randint(1, 7)
            args["days"] = days
        if self.r.random() < 0.4:
            args["unit"] = self.pick(["celsius", "fahrenheit"])
        d = f" for the next {days} days" if days and days > 1 else (" for tomorrow" if days == 1 else "")
        u = f" in {args['unit']}" if "unit" in args else ""
        user = self.pick([f"What's the weather in {city}{d}?{u and ' Use' + u[3:] + '.'}",
                          f"Weather forecast for {city}{d}{u}, please.",
                          f"Will it rain in {city}{d}?",
                          f"How warm is it in {city}{d}{u}?",
                          f"Can you check the weather in {city}{d}?"])
        reason = f"The user wants the weather in {city}"
        reason += f" for {days} day{'s' if days > 1 else ''}" if days else ""
        reason += f" in {args['unit']}" if "unit" in args else ""
        reason += f". The get_weather tool fits, so I call it with city {city}"
        reason += f" and days {days}." if days else "."
        temp = self.r.randint(-5, 35)
        cond = self.pick(CONDITIONS)
        unit = args.get("unit", "celsius")
        if unit == "fahrenheit":
            temp = round(temp * 9 / 5 + 32)
        result = json.dumps({"city": city, "temperature": temp, "unit": unit, "condition": cond})
        ar = f"The tool says it is {cond} and {temp} degrees {unit} in {city}. I report that."
        ans = f"In {city} it is {cond} with a temperature of {temp} degrees {unit}."
        return user, "get_weather", args, reason, result, ar, ans

    def task_calc(self):
        op = self.pick(sorted(OPS))
        if self.r.random() < 0.7:
            a, b = self.r.randint(2, 999), self.r.randint(2, 99)
        else:
            a, b = num(round(self.r.uniform(0.5, 500), 1)), num(round(self.r.uniform(0.5, 50), 1))
        sym, word, noun = OPS[op]
        sa, sb = fmt_num(a), fmt_num(b)
        user = self.pick([f"What is {sa} {sym} {sb}?", f"Compute {sa} {word} {sb}.",
                          f"Calculate the {noun} {sa} and {sb}.",
                          f"Please work out {sa} {sym} {sb} for me."])
        reason = (f"The user wants {sa} {sym} {sb}. I should not guess; the calculate tool "
                  f"can {op} them, with a = {sa}, b = {sb} and op = {op}.")
        val = {"add": a + b, "subtract": a - b, "multiply": a * b, "divide": a / b}[op]
        val = round(val, 4)
        result = json.dumps({"result": val})
        ar = f"The tool returned {fmt_num(val)}. That is the answer."
        ans = f"{sa} {sym} {sb} = {fmt_num(val)}."
        return user, "calculate", {"a": a, "b": b, "op": op}, reason, result, ar, ans

    def task_convert(self):
        fu, tu, f = self.pick(UNITS)
        v = self.r.randint(1, 500) if self.r.random() < 0.6 else num(round(self.r.uniform(0.5, 300), 1))
        sv = fmt_num(v)
        user = self.pick([f"Convert {sv} {fu} to {tu}.", f"How many {tu} is {sv} {fu}?",
                          f"What is {sv} {fu} in {tu}?"])
        reason = (f"The user wants to convert {sv} {fu} into {tu}. I use convert_units with "
                  f"value {sv}, from_unit {fu} and to_unit {tu}.")
        if f is None:
            out = v * 9 / 5 + 32 if fu == "celsius" else (v - 32) * 5 / 9
        else:
            out = v * f
        out = round(out, 2)
        result = json.dumps({"value": out, "unit": tu})
        ar = f"The conversion gives {fmt_num(out)} {tu}."
        ans = f"{sv} {fu} is about {fmt_num(out)} {tu}."
        return user, "convert_units", {"value": v, "from_unit": fu, "to_unit": tu}, reason, result, ar, ans

    def task_time(self):
        city, tz = self.tz_city()
        ask_tz = self.r.random() < 0.4
        user = (self.pick([f"What time is it in {tz}?", f"Current time in the {tz} time zone?"])
                if ask_tz else
                self.pick([f"What time is it in {city}?", f"What's the local time in {city} now?",
                           f"Tell me the current time in {city}."]))
        reason = (f"The user asks for the time in {city if not ask_tz else tz}. "
                  f"The time zone is {tz}, so I call get_time with timezone {tz}.")
        hh, mm = self.r.randint(0, 23), self.r.randint(0, 59)
        result = json.dumps({"timezone": tz, "time": f"{hh:02d}:{mm:02d}"})
        ar = f"The tool says it is {hh:02d}:{mm:02d} in {tz}."
        ans = f"It is {hh:02d}:{mm:02d} in {city if not ask_tz else tz} right now."
        return user, "get_time", {"timezone": tz}, reason, result, ar, ans

    def task_read(self):
        fname = self.pick(FILES_UNSEEN if self.unseen else FILES)
        path = f"{self.pick(DIRS)}/{fname}"
        args = {"path": path}
        n = None
        if self.r.random() < 0.5:
            n = self.r.choice([5, 10, 20, 50, 100])
            args["max_lines"] = n
        user = self.pick([f"Show me {path}" + (f", first {n} lines." if n else "."),
                          f"Read the file {path}" + (f" (only {n} lines)." if n else "."),
                          f"What's in {path}?" + (f" Just the first {n} lines." if n else "")])
        reason = f"The user wants the content of {path}. I call read_file with path {path}"
        reason += f" and max_lines {n}." if n else "."
        body = self.pick(self.fortunes).split("\n")[0][:80]
        result = json.dumps({"path": path, "lines": [body]})
        ar = "The file was read. I show its first line to the user."
        ans = f"The file {path} starts with: {body}"
        return user, "read_file", args, reason, result, ar, ans

    def task_search(self):
        ext = self.pick(["py", "txt", "md", "log", "json", "cpp", "h", "yaml", "csv", "sh"])
        d = self.pick(DIRS)
        rec = self.r.random() < 0.5
        args = {"pattern": f"*.{ext}", "directory": d, "recursive": rec}
        user = self.pick([f"Find all .{ext} files in {d}" + (" and its subfolders." if rec else ", not recursively."),
                          f"List the *.{ext} files under {d}" + (", recursively." if rec else " (top level only).")])
        reason = (f"The user wants files matching *.{ext} in {d}, "
                  f"{'including' if rec else 'excluding'} subdirectories. I call search_files "
                  f"with pattern *.{ext}, directory {d} and recursive {str(rec).lower()}.")
        n = self.r.randint(0, 4)
        names = [f"{d}/{self.pick(['main', 'util', 'test', 'notes', 'data', 'app'])}{i}.{ext}" for i in range(n)]
        result = json.dumps({"matches": names})
        ar = f"The search found {n} file{'s' if n != 1 else ''}."
        ans = (f"I found {n} matching file{'s' if n != 1 else ''}" +
               (": " + ", ".join(names) + "." if n else "."))
        return user, "search_files", args, reason, result, ar, ans

    def task_reminder(self):
        text = self.pick(REMINDERS)
        mins = self.r.choice([5, 10, 15, 20, 30, 45, 60, 90, 120])
        urgent = self.r.random() < 0.3
        args = {"text": text, "minutes": mins}
        if urgent or self.r.random() < 0.3:
            args["urgent"] = urgent
        u = " It's urgent." if urgent else ""
        user = self.pick([f"Remind me to {text} in {mins} minutes.{u}",
                          f"Set a reminder to {text} in {mins} minutes.{u}"])
        reason = (f"The user wants a reminder to {text} in {mins} minutes. I call set_reminder "
                  f"with text {text} and minutes {mins}" +
                  (f", urgent {str(args['urgent']).lower()}." if "urgent" in args else "."))
        result = json.dumps({"ok": True, "id": self.r.randint(100, 999)})
        ar = "The reminder was created."
        ans = f"Done. I will remind you to {text} in {mins} minutes."
        return user, "set_reminder", args, reason, result, ar, ans

    TASKS = ["task_weather", "task_calc", "task_convert", "task_time", "task_read",
             "task_search", "task_reminder"]

    # -- conversations
    def tool_conversation(self, prompt_only=False):
        task = getattr(self, self.pick(self.TASKS))
        user, name, args, reason, result, ar, ans = task()
        tools = self.toolset([name])
        msgs = [self.system(), {"role": "user", "content": user}]
        expect = {"kind": "tool", "name": name, "arguments": args}
        if prompt_only:
            return msgs, tools, expect
        call = {"role": "assistant", "content": "", "reasoning_content": reason,
                "tool_calls": [{"type": "function", "function": {"name": name, "arguments": args}}]}
        msgs += [call, {"role": "tool", "content": result},
                 {"role": "assistant", "content": ans, "reasoning_content": ar}]
        return msgs, tools, expect

    def parallel_weather(self):
        c1, c2 = self.r.sample(CITIES, 2)
        user = f"Compare the weather in {c1} and {c2}."
        tools = self.toolset(["get_weather"])
        reason = (f"The user wants the weather in two cities, {c1} and {c2}. I call get_weather "
                  f"twice, once with city {c1} and once with city {c2}.")
        calls = [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": c}}}
                 for c in (c1, c2)]
        t1, t2 = self.r.randint(-5, 35), self.r.randint(-5, 35)
        msgs = [self.system(), {"role": "user", "content": user},
                {"role": "assistant", "content": "", "reasoning_content": reason, "tool_calls": calls},
                {"role": "tool", "content": json.dumps({"city": c1, "temperature": t1, "unit": "celsius"})},
                {"role": "tool", "content": json.dumps({"city": c2, "temperature": t2, "unit": "celsius"})},
                {"role": "assistant", "reasoning_content": f"{c1} has {t1} and {c2} has {t2} degrees.",
                 "content": f"{c1} is at {t1} degrees celsius and {c2} at {t2} degrees celsius. "
                            f"{c1 if t1 >= t2 else c2} is warmer."}]
        return msgs, tools

    def chat_answer(self):
        """No fitting tool: answer directly (fortunes, small talk, mental arithmetic)."""
        kind = self.r.random()
        if kind < 0.45:
            f = self.pick(self.fortunes)
            topic = self.pick(["a quote", "a fortune", "something wise", "a saying",
                               "a funny line", "a random thought", "a proverb"])
            user = self.pick([f"Tell me {topic}.", f"Give me {topic}, please.",
                              f"Can you share {topic}?"])
            reason = f"The user asks for {topic}. No tool is needed; I recall one from memory."
            return user, reason, f
        if kind < 0.75:
            user, reason, ans = self.pick(SMALLTALK)
            return user, reason, ans
        a, b = self.r.randint(1, 20), self.r.randint(1, 20)
        user = self.pick([f"Quick: what is {a} + {b}?", f"Add {a} and {b} in your head."])
        reason = f"This is small: {a} + {b} = {a + b}. I can answer directly without a tool."
        return user, reason, f"{a} + {b} = {a + b}."

    def chat_conversation(self, prompt_only=False):
        user, reason, ans = self.chat_answer()
        tools = self.toolset([]) if self.r.random() < 0.5 else None
        if tools == []:
            tools = None
        msgs = [self.system(), {"role": "user", "content": user}]
        if self.r.random() < 0.15 and not prompt_only:
            # Multi-turn: the first turn's reasoning is dropped by the template.
            u0, r0, a0 = self.chat_answer()
            msgs = [msgs[0], {"role": "user", "content": u0},
                    {"role": "assistant", "content": a0, "reasoning_content": r0},
                    {"role": "user", "content": user}]
        expect = {"kind": "chat", "tools_offered": bool(tools)}
        if prompt_only:
            return msgs, tools, expect
        msgs.append({"role": "assistant", "content": ans, "reasoning_content": reason})
        return msgs, tools, expect


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", default=str(HERE / "work" / "data"))
    ap.add_argument("--n-train", type=int, default=14000)
    ap.add_argument("--n-heldout", type=int, default=400)
    ap.add_argument("--n-calib", type=int, default=256)
    ap.add_argument("--n-prompts", type=int, default=100)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    render = Renderer()
    fortunes = load_fortunes()
    rng = random.Random(args.seed)
    rng.shuffle(fortunes)
    # Hold back 10% of fortunes so held-out perplexity includes unseen English.
    n_hold = len(fortunes) // 10
    f_train, f_hold = fortunes[n_hold:], fortunes[:n_hold]

    def corpus(gen, n, fort):
        rows, convs = [], []
        for _ in range(n):
            x = gen.r.random()
            if x < 0.55:
                msgs, tools, _ = gen.tool_conversation()
            elif x < 0.60:
                msgs, tools = gen.parallel_weather()
            elif x < 0.82:
                msgs, tools, _ = gen.chat_conversation()
            else:
                # Plain English, a few fortunes in a row, no chat markup.
                rows.append({"text": "\n\n".join(gen.r.sample(fort, 3))})
                continue
            rows.append({"text": render(msgs, tools)})
            convs.append((msgs, tools))
        return rows, convs

    gtrain = Gen(random.Random(args.seed + 1), f_train)
    train, train_convs = corpus(gtrain, args.n_train, f_train)
    gheld = Gen(random.Random(args.seed + 2), f_hold)
    heldout, _ = corpus(gheld, args.n_heldout, f_hold)
    gcal = Gen(random.Random(args.seed + 3), f_train)
    calib, _ = corpus(gcal, args.n_calib, f_train)

    # Evaluation prompts. Held-in: the exact system/tools/user of training conversations.
    train_prompts = set()
    for msgs, tools in train_convs:
        train_prompts.add(render(msgs[:2], tools, add_generation_prompt=True))

    def prompt_rows(gen, n, must_be_new, tool_share=0.75):
        rows, seen = [], set()
        while len(rows) < n:
            if gen.r.random() < tool_share:
                msgs, tools, expect = gen.tool_conversation(prompt_only=True)
            else:
                msgs, tools, expect = gen.chat_conversation(prompt_only=True)
            p = render(msgs, tools, add_generation_prompt=True)
            if p in seen or (must_be_new and p in train_prompts):
                continue
            seen.add(p)
            rows.append({"messages": msgs, "tools": tools, "expect": expect, "prompt": p})
        return rows

    heldin = []
    for msgs, tools in train_convs:
        if len(heldin) >= args.n_prompts:
            break
        if len(msgs) >= 3 and msgs[1]["role"] == "user":
            last = msgs[2]
            if last.get("tool_calls") and len(last["tool_calls"]) == 1:
                f = last["tool_calls"][0]["function"]
                expect = {"kind": "tool", "name": f["name"], "arguments": f["arguments"]}
            elif last.get("tool_calls"):
                continue
            else:
                expect = {"kind": "chat", "tools_offered": bool(tools)}
            heldin.append({"messages": msgs[:2], "tools": tools, "expect": expect,
                           "prompt": render(msgs[:2], tools, add_generation_prompt=True)})
    heldout_p = prompt_rows(Gen(random.Random(args.seed + 4), f_hold), args.n_prompts, True)
    unseen_p = prompt_rows(Gen(random.Random(args.seed + 5), f_hold, unseen=True),
                           args.n_prompts // 2, True, tool_share=1.0)

    for name, rows in [("train", train), ("heldout", heldout), ("calib", calib),
                       ("prompts_heldin", heldin), ("prompts_heldout", heldout_p),
                       ("prompts_unseen", unseen_p)]:
        with open(out / f"{name}.jsonl", "w") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(f"{name}: {len(rows)} rows")
    print(f"fortunes: {len(f_train)} train / {len(f_hold)} held out")


if __name__ == "__main__":
    main()
