"""GET /metrics of a real mmd against the rules `promtool check metrics` applies (issue 22):
counter names end in _total and only counters' do, each family has one HELP and one TYPE
before its samples and its samples together, histograms are cumulative with +Inf equal to
_count, no series twice, label values escaped, no abbreviated units. Then the counters across
sleep and wake: a counter never goes down, and the prefix-cache counters keep counting.

When promtool (Debian's prometheus package) is on PATH it checks every scrape as well.
Run by ctest with the test venv's python (it reuses test_openai_api's Daemon).
"""
import math
import re
import shutil
import subprocess
import time
import unittest

from test_openai_api import MMCTL, Daemon

NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")  # no colons (reserved for rules), no camelCase
LABEL = re.compile(r"[a-z_][a-z0-9_]*\Z")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
ABBREVIATIONS = {"s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d"}
NON_BASE_UNITS = {"milliseconds", "microseconds", "nanoseconds", "minutes", "hours", "days",
                  "kilobytes", "megabytes", "gigabytes", "bits", "percent"}


def parse_labels(text, where):
    """`a="x",b="y\\"z"` -> [("a", "x"), ("b", 'y"z')], refusing escapes other than \\\\ \\" \\n."""
    labels, i = [], 0
    while i < len(text):
        eq = text.index("=", i)
        name = text[i:eq]
        if not LABEL.match(name) or name.startswith("__"):
            raise AssertionError(f"{where}: bad label name {name!r}")
        if text[eq + 1] != '"':
            raise AssertionError(f"{where}: label {name} is not quoted")
        j, value = eq + 2, ""
        while text[j] != '"':
            if text[j] == "\\":
                escaped = text[j + 1]
                if escaped not in '\\"n':
                    raise AssertionError(f"{where}: label {name}: bad escape \\{escaped}")
                value += "\n" if escaped == "n" else escaped
                j += 2
            else:
                value += text[j]
                j += 1
        labels.append((name, value))
        i = j + 1
        if i < len(text):
            if text[i] != ",":
                raise AssertionError(f"{where}: expected ',' after label {name}")
            i += 1
    return labels


def family_of(sample, types):
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample[: -len(suffix)]
        if sample.endswith(suffix) and types.get(base) == "histogram":
            return base
    return sample


def lint(text):
    """The problems found in one scrape, as a list of strings (empty: clean)."""
    problems, types, helps, samples = [], {}, {}, {}
    seen_series, finished_families, current = set(), set(), None
    for number, line in enumerate(text.split("\n"), 1):
        where = f"line {number}"
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                table = helps if parts[1] == "HELP" else types
                if name in table:
                    problems.append(f"{where}: second {parts[1]} for {name}")
                if name in samples:
                    problems.append(f"{where}: {parts[1]} for {name} after its samples")
                value = parts[3] if len(parts) > 3 else ""
                if parts[1] == "TYPE" and value not in TYPES:
                    problems.append(f"{where}: {name} has unknown type {value!r}")
                if parts[1] == "HELP" and not value.strip():
                    problems.append(f"{where}: {name} has an empty HELP")
                table[name] = value
            continue
        match = re.match(r"([^{ ]+)(?:\{(.*)\})? (\S+)(?: (-?\d+))?\Z", line)
        if not match:
            problems.append(f"{where}: not a sample: {line!r}")
            continue
        sample, label_text, value_text = match.group(1), match.group(2) or "", match.group(3)
        try:
            labels = parse_labels(label_text, where)
            value = float(value_text)
        except (AssertionError, ValueError, IndexError) as error:
            problems.append(f"{where}: {error}")
            continue
        family = family_of(sample, types)
        if family != current:
            if family in finished_families:
                problems.append(f"{where}: samples of {family} are not together")
            if current is not None:
                finished_families.add(current)
            current = family
        if family not in types:
            problems.append(f"{where}: {sample} has no TYPE")
        series = (sample, frozenset(labels))
        if series in seen_series:
            problems.append(f"{where}: series {sample}{{{label_text}}} twice")
        seen_series.add(series)
        if len({name for name, _ in labels}) != len(labels):
            problems.append(f"{where}: a label repeats in {sample}")
        samples.setdefault(family, []).append((sample, dict(labels), value))

    for family, kind in types.items():
        words = family.split("_")
        if not NAME.match(family):
            problems.append(f"{family}: not a snake_case name without colons")
        if family not in helps:
            problems.append(f"{family}: no HELP")
        if kind == "counter" and not family.endswith("_total"):
            problems.append(f'{family}: counter metrics should have "_total" suffix')
        if kind != "counter" and family.endswith("_total"):
            problems.append(f'{family}: non-counter metrics should not have "_total" suffix')
        if kind not in ("histogram", "summary") and re.search(r"_(bucket|count|sum)\Z", family):
            problems.append(f"{family}: a {kind} named like a histogram's series")
        for word in words:
            if word in ABBREVIATIONS:
                problems.append(f"{family}: abbreviated unit {word!r}")
            if word in NON_BASE_UNITS:
                problems.append(f"{family}: {word!r} is not a base unit")
        for type_name in TYPES:
            if f"_{type_name}_" in family or family.endswith("_" + type_name):
                problems.append(f"{family}: the type {type_name!r} is in the name")
        for sample, labels, value in samples.get(family, []):
            if kind == "counter" and (value < 0 or math.isnan(value)):
                problems.append(f"{sample}: counter value {value}")
            if kind != "histogram" and "le" in labels:
                problems.append(f"{sample}: label le outside a histogram")
        if kind == "histogram":
            problems += lint_histogram(family, samples.get(family, []))
    return problems


def lint_histogram(family, rows):
    problems = []
    groups = {}
    for sample, labels, value in rows:
        key = frozenset((k, v) for k, v in labels.items() if k != "le")
        groups.setdefault(key, {"buckets": [], "count": None, "sum": None})
        if sample == family + "_bucket":
            if "le" not in labels:
                problems.append(f"{sample}: no le label")
                continue
            groups[key]["buckets"].append((float(labels["le"]), value))
        elif sample == family + "_count":
            groups[key]["count"] = value
        elif sample == family + "_sum":
            groups[key]["sum"] = value
        else:
            problems.append(f"{sample}: not a series of histogram {family}")
    for group in groups.values():
        buckets = group["buckets"]
        bounds = [b for b, _ in buckets]
        if bounds != sorted(bounds) or not bounds or bounds[-1] != math.inf:
            problems.append(f"{family}: buckets not ascending to +Inf: {bounds}")
        counts = [c for _, c in buckets]
        if counts != sorted(counts):
            problems.append(f"{family}: buckets not cumulative: {counts}")
        if group["count"] is None or group["sum"] is None:
            problems.append(f"{family}: no _count or _sum")
        elif buckets and buckets[-1][1] != group["count"]:
            problems.append(f"{family}: +Inf bucket {buckets[-1][1]} != _count {group['count']}")
    return problems


def counters(text):
    """{(series name, labels): value} of every counter sample."""
    types, out = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            match = re.match(r"([^{ ]+)(\{.*\})? (\S+)", line)
            if types.get(match.group(1)) == "counter":
                out[(match.group(1), match.group(2))] = float(match.group(3))
    return out


class LintSelfTest(unittest.TestCase):
    """The linter itself finds what it is meant to find."""

    def test_finds_each_kind_of_problem(self):
        bad = "\n".join([
            "# HELP a_total x", "# TYPE a_total gauge", 'a_total{m="1"} 1',
            "# HELP b x", "# TYPE b counter", "b 1",
            "# HELP c_ms x", "# TYPE c_ms gauge", 'c_ms{le="1"} 1', 'c_ms{le="1"} 1',
            '# HELP d x', '# TYPE d gauge', 'd{v="a\\tb"} 1',
            "# HELP h x", "# TYPE h histogram", 'h_bucket{le="1"} 3', 'h_bucket{le="+Inf"} 2',
            "h_sum 1", "h_count 2", "",
        ])
        found = "\n".join(lint(bad))
        for expected in ['a_total: non-counter metrics should not have "_total"',
                         'b: counter metrics should have "_total"', "abbreviated unit 'ms'",
                         "label le outside a histogram", "twice", "bad escape", "not cumulative"]:
            self.assertIn(expected, found)
        self.assertEqual(lint('# HELP a_total x\n# TYPE a_total counter\na_total{x="q\\"\\n"} 1\n'),
                         [])


class MetricsExpositionTest(unittest.TestCase):
    PROMPT = "Tell me a fortune about the sea, the wind and the long road home. " * 3

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def scrape(self):
        status, text, headers = self.daemon.get("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"),
                        headers["Content-Type"])
        self.assertEqual(lint(text), [], "\n".join(lint(text)))
        promtool = shutil.which("promtool")
        if promtool:
            check = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                                   capture_output=True, timeout=60)
            self.assertEqual((check.returncode, check.stdout + check.stderr), (0, ""))
        return text

    def complete(self):
        status, body, _ = self.daemon.request(
            "POST", "/v1/completions",
            {"model": "bf16", "prompt": self.PROMPT, "max_tokens": 3, "temperature": 0})
        self.assertEqual(status, 200, body)

    def wait_for_metric(self, name, value, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.daemon.metric(name) == value:
                return
            time.sleep(0.05)
        self.fail(f"{name} never became {value}")

    def test_scrapes_are_clean_and_counters_survive_sleep(self):
        self.scrape()  # before any request: every family already declared
        self.complete()
        self.complete()  # the same prompt again: its full blocks hit the prefix cache
        awake = self.scrape()
        queries = self.daemon.metric("mmd_prefix_cache_queries_total")
        hits = self.daemon.metric("mmd_prefix_cache_hits_total")
        self.assertGreater(hits, 0)
        self.assertGreater(queries, hits)

        out = subprocess.run([MMCTL, "sleep", "--level", "1", "--socket", self.daemon.socket],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.wait_for_metric("mmd_sleep_level", 1)
        asleep = self.scrape()
        self.assertEqual(self.daemon.metric("mmd_prefix_cache_queries_total"), queries)
        self.assertEqual(self.daemon.metric("mmd_prefix_cache_hits_total"), hits)

        self.complete()  # wakes the daemon
        self.wait_for_metric("mmd_sleep_level", 0)
        woken = self.scrape()
        self.assertGreater(self.daemon.metric("mmd_prefix_cache_queries_total"), queries)
        # The pool's blocks went with the KV memory, but sleep level 1 keeps the host KV tier
        # (issue 18): the prompt's full blocks are copied back from it and count as hits.
        restored = self.daemon.metric("mmd_kv_tier_restored_tokens_total")
        self.assertGreater(restored, 0)
        self.assertEqual(self.daemon.metric("mmd_prefix_cache_hits_total"), hits + restored)
        # No counter goes down across sleep and wake.
        for earlier, later in ((awake, asleep), (asleep, woken)):
            before, after = counters(earlier), counters(later)
            self.assertEqual(before.keys(), after.keys())
            for series, value in before.items():
                self.assertGreaterEqual(after[series], value, series)


if __name__ == "__main__":
    unittest.main(verbosity=2)
