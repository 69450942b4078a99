#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_chat_prompt from tests/fixtures/text/chat_corpus.json.

Each seed is messages, tools, tool_choice and chat_template_kwargs as JSON (an absent field is
an empty part), NUL-separated, then a flags byte (bit 0: add_generation_prompt false, bit 1:
continue_final_message), one file per corpus case named after it (the 20 KB case left out:
seeds should be quick). Run from the repository root; rewrites the folder.
"""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fixtures", "text", "chat_corpus.json")
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus", "fuzz_chat_prompt")


def part(request, key):
    if key not in request:
        return b""
    return json.dumps(request[key], ensure_ascii=False).encode("utf-8")


def main():
    with open(CORPUS, encoding="utf-8") as f:
        cases = json.load(f)
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    for case in cases:
        request = case["request"]
        if len(json.dumps(request)) > 4096:
            continue
        flags = (0 if request.get("add_generation_prompt", True) else 1) | \
            (2 if request.get("continue_final_message", False) else 0)
        seed = b"\0".join(part(request, k) for k in
                          ("messages", "tools", "tool_choice", "chat_template_kwargs"))
        with open(os.path.join(OUT, case["name"]), "wb") as f:
            f.write(seed + b"\0" + bytes([flags]))


if __name__ == "__main__":
    main()
