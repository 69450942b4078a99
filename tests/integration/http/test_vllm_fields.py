"""vLLM's request fields against a real mmd with the official `openai` client (issue 21).

Sent through extra_body as vLLM's users send them: allowed_token_ids (every generated id is one
of them, read back with return_token_ids), bad_words (their token sequences never appear),
truncate_prompt_tokens (usage.prompt_tokens shrinks), priority (accepted), skip_special_tokens
both ways, an out-of-range sampling value and max_tokens beyond the context (400s naming the
field), and GET /v1/models/{id} (200 for the served model, OpenAI's 404 for another).

Run by ctest with the test venv's python (MMD_BINARY_DIR, MMD_SOURCE_DIR as for
test_openai_api.py).
"""
import json
import os
import sys
import unittest

import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_openai_api import Daemon  # noqa: E402

CHAT = [{"role": "user", "content": "Tell me a fortune."}]
PROMPT = "Once upon a time, in a small village by the sea,"
BEGIN_OF_TURN = 2003  # `]~b]`, special in the MiniMax vocabulary
MAX_MODEL_LEN = 4096


class VllmFieldsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon()
        cls.client = openai.OpenAI(base_url=cls.daemon.url + "/v1", api_key="unused",
                                   max_retries=0, timeout=60)
        cls.model = "bf16"

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def tokenize(self, text):
        status, body, _ = self.daemon.request("POST", "/tokenize", {"prompt": text})
        self.assertEqual(status, 200, body)
        return json.loads(body)["tokens"]

    def detokenize(self, ids):
        status, body, _ = self.daemon.request("POST", "/detokenize", {"tokens": ids})
        self.assertEqual(status, 200, body)
        return json.loads(body)["prompt"]

    def complete(self, **extra):
        extra.setdefault("return_token_ids", True)
        return self.client.completions.create(
            model=self.model, prompt=PROMPT, max_tokens=extra.pop("max_tokens", 16),
            temperature=extra.pop("temperature", 0), seed=extra.pop("seed", None),
            extra_body=extra)

    # ---- allowed_token_ids -------------------------------------------------------------------

    def test_allowed_token_ids_restrict_every_generated_token(self):
        allowed = self.tokenize(" the sea and the sky")
        r = self.complete(allowed_token_ids=allowed, temperature=1.0, seed=3, max_tokens=24,
                          ignore_eos=True)
        ids = r.choices[0].model_extra["token_ids"]
        self.assertEqual(len(ids), 24)
        self.assertTrue(set(ids) <= set(allowed), (ids, allowed))
        # The same over chat (through the reasoning parser).
        c = self.client.chat.completions.create(
            model=self.model, messages=CHAT, max_tokens=12, temperature=1.0, seed=5,
            extra_body={"allowed_token_ids": allowed, "return_token_ids": True,
                        "ignore_eos": True})
        chat_ids = c.choices[0].model_extra["token_ids"]
        self.assertEqual(len(chat_ids), 12)
        self.assertTrue(set(chat_ids) <= set(allowed), chat_ids)

    def test_allowed_token_ids_outside_the_vocabulary_are_400(self):
        with self.assertRaises(openai.BadRequestError) as caught:
            self.complete(allowed_token_ids=[1, 10**7])
        self.assertEqual(caught.exception.body["param"], "allowed_token_ids")
        self.assertIn("out-of-vocabulary", caught.exception.message)

    # ---- bad_words ---------------------------------------------------------------------------

    def test_bad_words_never_appear(self):
        free = self.complete(max_tokens=16).choices[0].model_extra["token_ids"]
        # A generated token that is a word on its own: banning that word bans that token.
        word = None
        for token in free:
            text = self.detokenize([token]).strip()
            if text.isalpha() and [token] in (self.tokenize(text), self.tokenize(" " + text)):
                word, banned_token = text, token
                break
        self.assertIsNotNone(word, f"no whole-word token in {free}")
        banned = [self.tokenize(word), self.tokenize(" " + word)]
        r = self.complete(max_tokens=16, bad_words=[word])
        ids = r.choices[0].model_extra["token_ids"]
        self.assertNotIn(banned_token, ids)
        for sequence in banned:
            n = len(sequence)
            self.assertFalse(any(ids[i:i + n] == sequence for i in range(len(ids))),
                             (word, sequence, ids))
        self.assertNotEqual(ids, free)
        with self.assertRaises(openai.BadRequestError) as caught:
            self.complete(bad_words=[""])
        self.assertEqual(caught.exception.body["param"], "bad_words")

    # ---- truncate_prompt_tokens, priority ----------------------------------------------------

    def test_truncate_prompt_tokens_reduces_the_prompt(self):
        full = self.complete(max_tokens=2)
        self.assertGreater(full.usage.prompt_tokens, 6)
        r = self.complete(max_tokens=2, truncate_prompt_tokens=6)
        self.assertEqual(r.usage.prompt_tokens, 6)
        self.assertEqual(r.model_extra["prompt_token_ids"],
                         full.model_extra["prompt_token_ids"][-6:])
        c = self.client.chat.completions.create(model=self.model, messages=CHAT, max_tokens=2,
                                                extra_body={"truncate_prompt_tokens": 5})
        self.assertEqual(c.usage.prompt_tokens, 5)
        with self.assertRaises(openai.BadRequestError) as caught:
            self.complete(truncate_prompt_tokens=MAX_MODEL_LEN + 1)
        self.assertEqual(caught.exception.body["param"], "truncate_prompt_tokens")

    def test_priority_is_accepted(self):
        for priority in (-10, 0, 7):
            r = self.client.chat.completions.create(model=self.model, messages=CHAT, max_tokens=3,
                                                    extra_body={"priority": priority})
            self.assertEqual(r.choices[0].finish_reason in ("stop", "length"), True)
        with self.assertRaises(openai.BadRequestError) as caught:
            self.client.chat.completions.create(model=self.model, messages=CHAT, max_tokens=3,
                                                extra_body={"priority": "high"})
        self.assertEqual(caught.exception.body["param"], "priority")

    # ---- skip_special_tokens -----------------------------------------------------------------

    def test_special_tokens_show_only_when_not_skipped(self):
        hidden = self.complete(allowed_token_ids=[BEGIN_OF_TURN], max_tokens=3, ignore_eos=True)
        self.assertEqual(hidden.choices[0].model_extra["token_ids"], [BEGIN_OF_TURN] * 3)
        self.assertNotIn("]~b]", hidden.choices[0].text)
        shown = self.complete(allowed_token_ids=[BEGIN_OF_TURN], max_tokens=3, ignore_eos=True,
                              skip_special_tokens=False)
        self.assertEqual(shown.choices[0].text, "]~b]" * 3)

    # ---- limits ------------------------------------------------------------------------------

    def test_out_of_range_sampling_is_400_naming_the_field(self):
        with self.assertRaises(openai.BadRequestError) as caught:
            self.client.chat.completions.create(model=self.model, messages=CHAT, max_tokens=3,
                                                temperature=2.5)
        self.assertEqual(caught.exception.body["param"], "temperature")
        self.assertIn("'temperature' must be in [0, 2], got 2.5", caught.exception.message)

    def test_max_tokens_beyond_the_context_is_400(self):
        for create in (
                lambda: self.client.chat.completions.create(model=self.model, messages=CHAT,
                                                            max_tokens=MAX_MODEL_LEN),
                lambda: self.client.completions.create(model=self.model, prompt=PROMPT,
                                                       max_tokens=MAX_MODEL_LEN)):
            with self.assertRaises(openai.BadRequestError) as caught:
                create()
            self.assertEqual(caught.exception.body["param"], "max_tokens")
            message = caught.exception.message
            self.assertIn("'max_tokens' is too large", message)
            self.assertIn(f"This model's maximum context length is {MAX_MODEL_LEN} tokens.",
                          message)
        # What fits still runs.
        r = self.client.chat.completions.create(model=self.model, messages=CHAT, max_tokens=8)
        self.assertLessEqual(r.usage.completion_tokens, 8)

    # ---- /v1/models/{id} ---------------------------------------------------------------------

    def test_models_by_id(self):
        model = self.client.models.retrieve(self.model)
        self.assertEqual(model.id, self.model)
        self.assertEqual(model.object, "model")
        self.assertEqual(model.model_extra["max_model_len"], MAX_MODEL_LEN)
        with self.assertRaises(openai.NotFoundError) as caught:
            self.client.models.retrieve("no-such-model")
        self.assertEqual(caught.exception.body["type"], "NotFoundError")
        self.assertIn("no-such-model", caught.exception.message)
        status, body, _ = self.daemon.get("/v1/models/no-such-model")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body)["error"]["code"], 404)


if __name__ == "__main__":
    unittest.main(verbosity=2)
