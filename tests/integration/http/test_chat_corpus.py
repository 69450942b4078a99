"""The chat prompt of a real mmd, byte-identical to Hugging Face (issue 21).

tests/fixtures/text/chat_corpus.json holds chat requests as clients send them and the token ids
transformers' apply_chat_template gives for them on the MiniMax-M2 template with the bundled
tokenizer (tools/reference/text/make_chat_corpus.py). Every case is sent over HTTP:
/v1/chat/completions with max_tokens 1 and return_token_ids must answer the reference's
prompt_token_ids, and /tokenize (for the cases without tool_choice, which /tokenize does not
take) the same ids; the cases the reference refuses must be a 400 whose message names the
problem. One test per case, named after it.

Run by ctest with the test venv's python (MMD_BINARY_DIR, MMD_SOURCE_DIR as for
test_openai_api.py, whose Daemon this reuses).
"""
import hashlib
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_openai_api import MODEL, SOURCE, Daemon  # noqa: E402

CORPUS_PATH = os.path.join(SOURCE, "tests", "fixtures", "text", "chat_corpus.json")
with open(CORPUS_PATH, encoding="utf-8") as f:
    CORPUS = json.load(f)
# Prompts longer than this many tokens skip the prefill (set by CI's sanitizer run; 0: none do).
MAX_PREFILL = int(os.environ.get("MMD_TEST_MAX_PREFILL", "0"))
TEMPLATE_SHA256 = "967ff7e387676f4b4340585da0585416532f1e6c5ee3f1ede64b2c21ef7ea001"
# The fields of a request that /tokenize takes for a chat (vLLM's TokenizeChatRequest).
TOKENIZE_FIELDS = ("messages", "tools", "chat_template_kwargs", "add_generation_prompt",
                   "continue_final_message")


def first_difference(a, b):
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


class ChatCorpusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The corpus has a 20 KB message (~8,400 tokens with the tiny model's 2k vocabulary).
        cls.daemon = Daemon("--max-model-len", "16384")

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def post(self, path, body):
        status, text, _ = self.daemon.request("POST", path, body,
                                              {"Content-Type": "application/json"})
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def explain(self, case, got):
        """Where the daemon's prompt leaves the reference's, in text."""
        want = case["prompt_token_ids"]
        i = first_difference(got, want)
        status, body = self.post("/detokenize", {"tokens": got})
        text = body.get("prompt", "") if status == 200 and isinstance(body, dict) else ""
        j = first_difference(text, case["prompt"])
        return (f"{case['name']}: token {i} of {len(want)} differs (got {got[i:i + 8]}, want "
                f"{want[i:i + 8]}; {len(got)} tokens); text from char {j}:\n"
                f"  mmd: {text[max(0, j - 40):j + 80]!r}\n"
                f"  HF:  {case['prompt'][max(0, j - 40):j + 80]!r}")

    def check_valid(self, case):
        request = case["request"]
        if (MAX_PREFILL and len(case["prompt_token_ids"]) > MAX_PREFILL
                and "tool_choice" not in request):
            # Sanitizer builds: prefilling the 8k-token case takes minutes there; its prompt
            # path is checked through /tokenize, the generation path by every other case.
            print(f"{case['name']}: {len(case['prompt_token_ids'])} tokens > "
                  f"MMD_TEST_MAX_PREFILL={MAX_PREFILL}: checked through /tokenize only",
                  file=sys.stderr)
            status, body = self.post("/tokenize",
                                     {k: request[k] for k in TOKENIZE_FIELDS if k in request})
            self.assertEqual(status, 200, body)
            if body["tokens"] != case["prompt_token_ids"]:
                self.fail("/tokenize: " + self.explain(case, body["tokens"]))
            return
        status, body = self.post("/v1/chat/completions",
                                 {**request, "max_tokens": 1, "return_token_ids": True})
        self.assertEqual(status, 200, body)
        got = body.get("prompt_token_ids")
        self.assertIsInstance(got, list, f"no prompt_token_ids in {body}")
        if got != case["prompt_token_ids"]:
            self.fail(self.explain(case, got))
        self.assertEqual(body["usage"]["prompt_tokens"], len(case["prompt_token_ids"]))
        if "tool_choice" not in request:
            status, body = self.post("/tokenize",
                                     {k: request[k] for k in TOKENIZE_FIELDS if k in request})
            self.assertEqual(status, 200, body)
            if body["tokens"] != case["prompt_token_ids"]:
                self.fail("/tokenize: " + self.explain(case, body["tokens"]))

    def check_error(self, case):
        request = case["request"]
        status, body = self.post("/v1/chat/completions", {**request, "max_tokens": 1})
        self.assertEqual(status, 400, f"{case['name']}: {body} (reference: {case['python_error']})")
        message = body["error"]["message"]
        self.assertIn(case["error"], message, f"reference said: {case['python_error']}")
        if "tool_choice" not in request:
            status, body = self.post("/tokenize",
                                     {k: request[k] for k in TOKENIZE_FIELDS if k in request})
            self.assertEqual(status, 400, body)
        self.assertEqual(self.daemon.get("/health")[0], 200)

    def test_corpus_is_the_one_described(self):
        valid = [c for c in CORPUS if "error" not in c]
        self.assertGreaterEqual(len(valid), 48)
        for path in (os.path.join(MODEL, "chat_template.jinja"),
                     os.path.join(SOURCE, "daemon", "text", "default_templates", "minimax_m2.jinja")):
            with open(path, "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), TEMPLATE_SHA256, path)


def make_test(case):
    if "error" in case:
        return lambda self: self.check_error(case)
    return lambda self: self.check_valid(case)


for _case in CORPUS:
    setattr(ChatCorpusTest, "test_" + _case["name"], make_test(_case))


if __name__ == "__main__":
    unittest.main(verbosity=2)
