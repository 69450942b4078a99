"""Scoring for evaluation harnesses against a real mmd, with the official `openai` client
(issue 16): echo + logprobs returns the prompt's log-probabilities (first token null, as vLLM),
max_tokens 0 with echo generates nothing, batched prompts (strings or token-id lists) answer in
order with summed usage, token-id prompts, return_tokens_as_token_ids, vLLM's prompt_logprobs
(completions and chat), and GET /tokenizer_info as lm-eval's remote tokenizer reads it.

The prompt scores are checked against the sampler's: the logprob of the greedy token after a
prompt, as generated, must equal its logprob when the prompt plus that token is scored.

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

PROMPT = "Once upon a time, in a small village by the sea,"


class ScoringTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon()
        cls.client = openai.OpenAI(base_url=cls.daemon.url + "/v1", api_key="unused",
                                   max_retries=0, timeout=120)
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

    def score(self, prompt, logprobs=1, **extra):
        return self.client.completions.create(model=self.model, prompt=prompt, max_tokens=0,
                                              echo=True, logprobs=logprobs, temperature=0,
                                              extra_body=extra or None)

    def check_prompt_logprobs(self, lp, ids, n):
        self.assertEqual(len(lp.tokens), len(ids))
        self.assertIsNone(lp.token_logprobs[0])
        self.assertIsNone(lp.top_logprobs[0])
        for i in range(1, len(ids)):
            self.assertLessEqual(lp.token_logprobs[i], 0.0)
            top = lp.top_logprobs[i]
            # The token itself and its top n (a key two ids share counts once).
            self.assertGreaterEqual(len(top), 1)
            self.assertLessEqual(len(top), n + 1)
            self.assertIn(lp.tokens[i], top)
            self.assertGreaterEqual(max(top.values()), lp.token_logprobs[i])
        self.assertEqual(lp.text_offset[0], 0)
        for i in range(1, len(ids)):
            self.assertEqual(lp.text_offset[i],
                             lp.text_offset[i - 1] + len(lp.tokens[i - 1].encode()))

    # ---- echo + logprobs -------------------------------------------------------------------

    def test_echo_with_max_tokens_zero_scores_the_prompt(self):
        ids = self.tokenize(PROMPT)
        r = self.score(PROMPT, logprobs=3)
        c = r.choices[0]
        self.assertEqual(c.text, PROMPT)
        self.assertEqual(c.finish_reason, "length")
        self.assertEqual(r.usage.prompt_tokens, len(ids))
        self.assertEqual(r.usage.completion_tokens, 0)
        self.check_prompt_logprobs(c.logprobs, ids, 3)
        self.assertEqual("".join(c.logprobs.tokens), PROMPT)
        # vLLM's prompt_logprobs ride along: keyed by id, with ranks.
        plp = c.model_extra["prompt_logprobs"]
        self.assertEqual(len(plp), len(ids))
        self.assertIsNone(plp[0])
        for i in range(1, len(ids)):
            own = plp[i][str(ids[i])]
            self.assertAlmostEqual(own["logprob"], c.logprobs.token_logprobs[i], places=5)
            self.assertGreaterEqual(own["rank"], 1)
            # The top 3 and the prompt token (one of them, or a 4th entry).
            ranks = sorted(v["rank"] for v in plp[i].values())
            self.assertEqual(ranks, sorted({1, 2, 3, own["rank"]}))

    def test_a_prompt_score_equals_the_generated_tokens_logprob(self):
        # Greedy: the token after PROMPT and its logprob, as sampled.
        g = self.client.completions.create(model=self.model, prompt=PROMPT, max_tokens=1,
                                           temperature=0, logprobs=2,
                                           extra_body={"return_token_ids": True})
        token = g.choices[0].model_extra["token_ids"][0]
        sampled = g.choices[0].logprobs.token_logprobs[0]
        ids = self.tokenize(PROMPT) + [token]
        r = self.score(ids, logprobs=2)
        lp = r.choices[0].logprobs
        self.assertAlmostEqual(lp.token_logprobs[-1], sampled, places=4)
        # Greedy: it is the most probable there.
        self.assertAlmostEqual(max(lp.top_logprobs[-1].values()), sampled, places=4)
        # And the daemon's prefix cache (warmed by the first request) does not change scores.
        again = self.score(ids, logprobs=2).choices[0].logprobs
        self.assertEqual(again.token_logprobs, lp.token_logprobs)

    def test_echo_logprobs_with_generation_lm_eval_style(self):
        # lm-eval's loglikelihood request: echo, logprobs 1, max_tokens 1, temperature 0.
        ids = self.tokenize(PROMPT)
        r = self.client.completions.create(model=self.model, prompt=[ids], max_tokens=1,
                                           echo=True, logprobs=1, temperature=0)
        c = r.choices[0]
        self.assertEqual(len(c.logprobs.tokens), len(ids) + 1)
        self.assertIsNone(c.logprobs.token_logprobs[0])
        self.assertTrue(c.text.startswith(PROMPT))
        self.assertEqual(r.usage.completion_tokens, 1)
        scored = self.score(ids).choices[0].logprobs.token_logprobs
        self.assertEqual(c.logprobs.token_logprobs[:len(ids)], scored)

    def test_echo_logprobs_streamed(self):
        ids = self.tokenize(PROMPT)
        tokens, logprobs, text = [], [], ""
        for chunk in self.client.completions.create(model=self.model, prompt=PROMPT,
                                                    max_tokens=3, echo=True, logprobs=1,
                                                    temperature=0, stream=True):
            for c in chunk.choices:
                text += c.text
                if c.logprobs is not None:
                    tokens += c.logprobs.tokens
                    logprobs += c.logprobs.token_logprobs
        self.assertTrue(text.startswith(PROMPT))
        self.assertEqual(len(tokens), len(ids) + 3)
        self.assertIsNone(logprobs[0])
        self.assertEqual(logprobs[1:len(ids)], self.score(PROMPT).choices[0].logprobs
                         .token_logprobs[1:])

    def test_max_tokens_zero_without_echo_is_400(self):
        with self.assertRaises(openai.BadRequestError) as caught:
            self.client.completions.create(model=self.model, prompt=PROMPT, max_tokens=0)
        self.assertEqual(caught.exception.body["param"], "max_tokens")

    def test_echo_only_without_logprobs(self):
        r = self.client.completions.create(model=self.model, prompt=PROMPT, max_tokens=0,
                                           echo=True)
        self.assertEqual(r.choices[0].text, PROMPT)
        self.assertIsNone(r.choices[0].logprobs)
        self.assertEqual(r.usage.completion_tokens, 0)

    # ---- batches and token-id prompts -------------------------------------------------------

    def test_batched_string_prompts_answer_in_order(self):
        prompts = ["The weather in Paris", "A fortune:", PROMPT]
        r = self.client.completions.create(model=self.model, prompt=prompts, max_tokens=0,
                                           echo=True, logprobs=1, temperature=0)
        self.assertEqual([c.index for c in r.choices], [0, 1, 2])
        self.assertEqual([c.text for c in r.choices], prompts)
        counts = [len(self.tokenize(p)) for p in prompts]
        self.assertEqual(r.usage.prompt_tokens, sum(counts))
        for c, p in zip(r.choices, prompts):
            self.assertEqual(c.logprobs.token_logprobs, self.score(p).choices[0].logprobs
                             .token_logprobs)

    def test_batched_token_id_prompts_with_generation(self):
        prompts = [self.tokenize(p) for p in ["One", "Two things", "Three more things here"]]
        r = self.client.completions.create(model=self.model, prompt=prompts, max_tokens=4,
                                           temperature=0,
                                           extra_body={"ignore_eos": True,
                                                       "return_token_ids": True})
        self.assertEqual(len(r.choices), 3)
        self.assertEqual(r.usage.completion_tokens, 12)
        self.assertEqual(r.usage.prompt_tokens, sum(len(p) for p in prompts))
        for i, (c, p) in enumerate(zip(r.choices, prompts)):
            self.assertEqual(c.index, i)
            self.assertEqual(c.model_extra["prompt_token_ids"], p)
            alone = self.client.completions.create(model=self.model, prompt=p, max_tokens=4,
                                                   temperature=0,
                                                   extra_body={"ignore_eos": True})
            self.assertEqual(c.text, alone.choices[0].text)

    def test_a_bad_prompt_in_a_batch_is_named_and_the_daemon_keeps_serving(self):
        status, body, _ = self.daemon.request(
            "POST", "/v1/completions",
            {"model": self.model, "prompt": [[5, 6], [7, 10 ** 6]], "max_tokens": 1})
        self.assertEqual(status, 400, body)
        self.assertIn("prompt[1]", body)
        status, body, _ = self.daemon.request(
            "POST", "/v1/completions", {"model": self.model, "prompt": ["a", 5]})
        self.assertEqual(status, 400, body)
        self.assertIn("prompt[1]", json.loads(body)["error"]["message"])
        self.assertEqual(len(self.score(PROMPT).choices), 1)

    def test_token_id_prompt_echo(self):
        ids = self.tokenize(PROMPT)
        r = self.score(ids)
        self.assertEqual(r.choices[0].text, self.detokenize(ids))

    def test_return_tokens_as_token_ids(self):
        ids = self.tokenize(PROMPT)
        r = self.score(PROMPT, logprobs=2, return_tokens_as_token_ids=True)
        lp = r.choices[0].logprobs
        self.assertEqual(lp.tokens, [f"token_id:{i}" for i in ids])
        for i in range(1, len(ids)):
            self.assertIn(f"token_id:{ids[i]}", lp.top_logprobs[i])
            self.assertTrue(all(k.startswith("token_id:") for k in lp.top_logprobs[i]))
            # With id labels no two alternatives share a key: the token and its top 2.
            self.assertIn(len(lp.top_logprobs[i]), (2, 3))
        g = self.client.completions.create(model=self.model, prompt=PROMPT, max_tokens=2,
                                           temperature=0, logprobs=1,
                                           extra_body={"return_tokens_as_token_ids": True,
                                                       "return_token_ids": True})
        self.assertEqual(g.choices[0].logprobs.tokens,
                         [f"token_id:{i}" for i in g.choices[0].model_extra["token_ids"]])

    # ---- vLLM's prompt_logprobs -------------------------------------------------------------

    def test_prompt_logprobs_on_completions_without_echo(self):
        r = self.client.completions.create(model=self.model, prompt=PROMPT, max_tokens=2,
                                           temperature=0, extra_body={"prompt_logprobs": 1})
        plp = r.choices[0].model_extra["prompt_logprobs"]
        self.assertEqual(len(plp), r.usage.prompt_tokens)
        self.assertIsNone(plp[0])
        self.assertTrue(all(isinstance(e, dict) and 1 <= len(e) <= 2 for e in plp[1:]))
        self.assertFalse(r.choices[0].text.startswith(PROMPT))

    def test_prompt_logprobs_on_chat(self):
        r = self.client.chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": "Tell me a fortune."}],
            max_tokens=4, temperature=0, extra_body={"prompt_logprobs": 0})
        plp = r.model_extra["prompt_logprobs"]
        self.assertEqual(len(plp), r.usage.prompt_tokens)
        self.assertIsNone(plp[0])
        for entry in plp[1:]:
            self.assertEqual(len(entry), 1)  # the prompt token alone
            (value,) = entry.values()
            self.assertTrue(value["logprob"] <= 0 and value["rank"] >= 1)
        with self.assertRaises(openai.BadRequestError) as caught:
            self.client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": "x"}], max_tokens=2,
                stream=True, extra_body={"prompt_logprobs": 1})
        self.assertEqual(caught.exception.body["param"], "prompt_logprobs")

    # ---- /tokenizer_info --------------------------------------------------------------------

    def test_tokenizer_info_as_lm_eval_reads_it(self):
        status, body, _ = self.daemon.get("/tokenizer_info")
        self.assertEqual(status, 200, body)
        info = json.loads(body)
        self.assertEqual(info["eos_token"], "[e~[")
        self.assertEqual(info["bos_token"], "]~!b[")
        self.assertEqual(info["tokenizer_class"], "PreTrainedTokenizerFast")
        self.assertIn("]~b]", info["chat_template"])
        # lm-eval's RemoteTokenizer derives the ids through /tokenize.
        self.assertEqual(self.tokenize(info["eos_token"]), [2004])
        status, _, _ = self.daemon.request("POST", "/tokenizer_info", {})
        self.assertEqual(status, 405)


if __name__ == "__main__":
    unittest.main(verbosity=2)
