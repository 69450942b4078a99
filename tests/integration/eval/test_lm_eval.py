"""lm-eval (PyPI) against a real mmd on the bundled model (issue 16): its `local-completions`
model runs a multiple-choice (loglikelihood: echo + logprobs over batched token-id prompts) and a
generate_until task from tests/eval/tasks, end to end, with --batch_size 4 and mmd's own
tokenizer (tokenizer_backend=remote: /tokenizer_info, /tokenize, /detokenize).

The scores are checked against what the daemon answers directly: lm-eval's choice for every
document must be the choice whose continuation the daemon scores highest, and its generations
must be the daemon's greedy completions (both logged with --log_samples).

Run by ctest with .venv-lmeval's python (tools/setup-lmeval-venv.sh); MMD_BINARY_DIR and
MMD_SOURCE_DIR as for the HTTP suites.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import unittest

SOURCE = os.environ.get("MMD_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration", "http"))
from test_openai_api import Daemon  # noqa: E402

LM_EVAL = os.path.join(os.path.dirname(sys.executable), "lm_eval")
TASKS = os.path.join(SOURCE, "tests", "eval", "tasks")


def run_lm_eval(url, out, tasks, batch_size=4, model="bf16", limit=None):
    """Runs lm_eval from the repository root (the task files name their data from there)."""
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1",
               HF_DATASETS_CACHE=os.path.join(out, "hf-cache"))
    cmd = [LM_EVAL, "--model", "local-completions", "--model_args",
           f"model={model},base_url={url}/v1/completions,tokenizer_backend=remote,"
           "num_concurrent=1,max_retries=1",
           "--tasks", tasks, "--include_path", TASKS, "--batch_size", str(batch_size),
           "--output_path", out, "--log_samples", "--seed", "0"]
    if limit:
        cmd += ["--limit", str(limit)]
    r = subprocess.run(cmd, cwd=SOURCE, env=env, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise AssertionError(f"lm_eval failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}")
    results = sorted(glob.glob(os.path.join(out, "*", "results_*.json")))
    with open(results[-1]) as f:
        return json.load(f)


def samples(out, task):
    # samples_<task>_<date>.jsonl; the date starts with a digit (tasks may prefix each other).
    (path,) = glob.glob(os.path.join(out, "*", f"samples_{task}_[0-9]*.jsonl"))
    with open(path) as f:
        return [json.loads(line) for line in f]


class LmEvalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon()
        cls.out = tempfile.mkdtemp(prefix="mmd-lm-eval-")
        cls.results = run_lm_eval(cls.daemon.url, cls.out,
                                  "tiny_tool_reasoning,tiny_tool_reasoning_gen")

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def post(self, path, body):
        status, text, _ = self.daemon.request("POST", path, body)
        self.assertEqual(status, 200, text)
        return json.loads(text)

    def test_the_run_used_batches(self):
        # --batch_size 4: lm-eval sends 4 token-id prompts per /v1/completions request.
        self.assertEqual(str(self.results["config"]["batch_size"]), "4")
        self.assertEqual(self.results["n-samples"]["tiny_tool_reasoning"]["effective"], 24)

    def test_multiple_choice_agrees_with_the_daemons_scores(self):
        res = self.results["results"]["tiny_tool_reasoning"]
        self.assertGreaterEqual(res["acc,none"], 0.5)  # chance is 0.25; the model knows these
        for s in samples(self.out, "tiny_tool_reasoning")[:10]:
            doc = s["doc"]
            ctx = self.post("/tokenize", {"prompt": doc["prompt"]})["tokens"]
            scores = []
            for choice in doc["choices"]:
                ids = self.post("/tokenize", {"prompt": doc["prompt"] + choice})["tokens"]
                r = self.post("/v1/completions", {"prompt": ids, "max_tokens": 0, "echo": True,
                                                  "logprobs": 0})
                scores.append(sum(r["choices"][0]["logprobs"]["token_logprobs"][len(ctx):]))
            # lm-eval's per-choice loglikelihoods are the daemon's, to float precision.
            theirs = [float(r[0][0]) for r in s["resps"]]
            for a, b in zip(theirs, scores):
                self.assertAlmostEqual(a, b, places=3)
            self.assertEqual(s["acc"], float(scores.index(max(scores)) == doc["label"]))

    def test_generations_are_the_daemons_greedy_completions(self):
        res = self.results["results"]["tiny_tool_reasoning_gen"]
        self.assertIn("exact_match,none", res)
        matched = 0
        for s in samples(self.out, "tiny_tool_reasoning_gen")[:10]:
            r = self.post("/v1/completions", {"prompt": s["doc"]["prompt"], "max_tokens": 32,
                                              "temperature": 0, "stop": [".", "[e~["]})
            self.assertEqual(s["resps"][0][0], r["choices"][0]["text"])
            matched += s["exact_match"]
        self.assertGreater(res["exact_match,none"], 0.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
