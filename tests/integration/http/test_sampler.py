"""The sampler through a real mmd with the official `openai` client (issue 19).

A step's sequences are sampled in parallel on the engine's sampler threads; every sequence's
tokens depend only on its own request. So seeded requests with the seed cards' parameters
(temperature 1, top_p 0.95, top_k 40), with min_p, penalties and logprobs, give the same
token ids and logprobs when sent all at once as one by one; top_k 1 and min_p 1 sample the
greedy answer.

Run by ctest with the test venv's python (MMD_BINARY_DIR, MMD_SOURCE_DIR as for
test_openai_api.py).
"""
import os
import sys
import unittest
from concurrent.futures import ThreadPoolExecutor

import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_openai_api import Daemon  # noqa: E402

PROMPT = "Once upon a time, in a small village by the sea,"

# Each request: its sampling fields (vLLM's, through extra_body where OpenAI has none).
REQUESTS = [
    dict(temperature=1.0, top_p=0.95, seed=11, extra_body={"top_k": 40}),
    dict(temperature=1.0, top_p=0.95, seed=12),
    dict(temperature=0.7, seed=13, extra_body={"min_p": 0.05}),
    dict(temperature=1.0, seed=14, frequency_penalty=0.5, presence_penalty=0.3,
         extra_body={"repetition_penalty": 1.2}),
    dict(temperature=1.0, top_p=0.9, seed=15, logprobs=3),
    dict(temperature=1.2, seed=16, extra_body={"top_k": 5}),
    dict(temperature=0),
    dict(temperature=1.0, seed=17),
]


class SamplerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Two engine threads' worth of sampler threads even on a one-core runner.
        cls.daemon = Daemon("--threads", "2")
        cls.client = openai.OpenAI(base_url=cls.daemon.url + "/v1", api_key="unused",
                                   max_retries=0, timeout=120)
        cls.model = "bf16"

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def complete(self, fields):
        fields = dict(fields)
        extra = dict(fields.pop("extra_body", {}))
        extra["return_token_ids"] = True
        extra["ignore_eos"] = True
        r = self.client.completions.create(model=self.model, prompt=PROMPT, max_tokens=24,
                                           extra_body=extra, **fields)
        choice = r.choices[0]
        logprobs = None
        if choice.logprobs is not None:
            logprobs = [(round(lp, 4), sorted(top.items())) for lp, top in
                        zip(choice.logprobs.token_logprobs, choice.logprobs.top_logprobs)]
        return choice.model_extra["token_ids"], logprobs

    def test_concurrent_requests_sample_what_each_samples_alone(self):
        alone = [self.complete(fields) for fields in REQUESTS]
        for ids, _ in alone:
            self.assertEqual(len(ids), 24)
        # All at once, three times over, so they share steps in different arrangements.
        for _ in range(3):
            with ThreadPoolExecutor(len(REQUESTS)) as pool:
                together = list(pool.map(self.complete, REQUESTS))
            for fields, want, got in zip(REQUESTS, alone, together):
                self.assertEqual(got[0], want[0], fields)
                self.assertEqual(got[1], want[1], fields)
        # Different seeds do change the sampled ids (the seed is not ignored).
        reseeded = self.complete(dict(REQUESTS[1], seed=99))
        self.assertNotEqual(reseeded[0], alone[1][0])

    def test_top_k_1_and_min_p_1_sample_the_greedy_answer(self):
        greedy, _ = self.complete(dict(temperature=0))
        top_k_1, _ = self.complete(dict(temperature=1.0, seed=3, extra_body={"top_k": 1}))
        min_p_1, _ = self.complete(dict(temperature=1.0, seed=4, extra_body={"min_p": 1.0}))
        self.assertEqual(top_k_1, greedy)
        self.assertEqual(min_p_1, greedy)

    def test_logprobs_of_a_sampled_answer_are_sorted_and_normalized(self):
        _, logprobs = self.complete(dict(temperature=1.0, seed=21, logprobs=5,
                                         extra_body={"top_k": 40}))
        self.assertEqual(len(logprobs), 24)
        for sampled, top in logprobs:
            values = [v for _, v in top]
            self.assertTrue(1 <= len(values) <= 5, top)  # ids with the same text share a key
            self.assertTrue(all(v <= 0.0 for v in values))
            self.assertLessEqual(sampled, max(values) + 1e-4)


if __name__ == "__main__":
    unittest.main()
