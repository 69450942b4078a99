"""The HTTP server's edges against a real mmd (issues 15 and 22), with raw sockets on loopback.

Slow senders meet a deadline for the whole header and the whole body (the idle timer used to
restart on every byte); `Expect: 100-continue` is answered; a client that half-closes after
sending still gets its answer; Host and Origin are checked so a web page cannot drive a loopback
daemon (DNS rebinding, cross-origin text/plain POSTs); Bearer is case-insensitive; HEAD works
where GET does and 405 names what is allowed; the connection limit refuses with a clear 503;
/health answers "draining" while SIGTERM drains; /detokenize refuses ids outside the vocabulary.
Every loop here is bounded in count and time.
"""
import json
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_openai_api import Daemon  # noqa: E402

KEY = "sk-test"


def connect(daemon):
    s = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    return s


def read_all(s, limit=5.0):
    """Everything the daemon sends until it closes (or `limit` seconds pass)."""
    s.settimeout(limit)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def status_of(response):
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None


def headers_of(response):
    head = response.split(b"\r\n\r\n", 1)[0].decode()
    out = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        out[name.strip().lower()] = value.strip()
    return out


def body_of(response):
    return response.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in response else b""


def request_bytes(method, path, body=b"", host="127.0.0.1", extra=()):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Authorization: Bearer {KEY}",
             "Connection: close", *extra]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class HttpHardeningTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon("--api-key", KEY, "--http-header-timeout", "1", "--http-body-timeout",
                            "1", "--http-max-connections", "6", "--allowed-hosts",
                            "mmd.internal", "--allowed-origins", "http://app.example")

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def exchange(self, payload):
        with connect(self.daemon) as s:
            s.sendall(payload)
            return read_all(s)

    def drip(self, prefix, drip, every=0.2, budget=8.0):
        """Sends `prefix`, then one byte of `drip` every `every` s; returns (seconds until the
        daemon cut the connection, what it answered)."""
        with connect(self.daemon) as s:
            start = time.monotonic()
            s.sendall(prefix)
            for byte in drip:
                if time.monotonic() - start > budget:
                    break
                try:
                    s.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    break
                time.sleep(every)
            elapsed = time.monotonic() - start
            return elapsed, read_all(s, 2.0)

    def test_slow_header_is_cut_at_its_deadline(self):
        # 60 bytes at 5 bytes/s would take 12 s; the header deadline is 1 s whatever arrives.
        elapsed, answer = self.drip(b"", request_bytes("GET", "/health")[:60])
        self.assertLess(elapsed, 5.0, "a slow-drip header held the connection")
        if answer:
            self.assertEqual(status_of(answer), 408, answer)
            self.assertIn(b"headers", body_of(answer))

    def test_slow_body_is_cut_at_its_deadline(self):
        body = json.dumps({"prompt": "x" * 200}).encode()
        head = request_bytes("POST", "/tokenize", body)[: -len(body)]
        elapsed, answer = self.drip(head, body)
        self.assertLess(elapsed, 5.0, "a slow-drip body held the connection")
        if answer:
            self.assertEqual(status_of(answer), 408, answer)
            self.assertIn(b"body", body_of(answer))

    def test_expect_100_continue_is_answered_before_the_body(self):
        body = json.dumps({"prompt": "hello"}).encode()
        payload = request_bytes("POST", "/tokenize", body, extra=["Expect: 100-continue",
                                                                  "Content-Type: application/json"])
        with connect(self.daemon) as s:
            s.sendall(payload[: -len(body)])
            s.settimeout(5)
            interim = s.recv(64)
            self.assertEqual(interim, b"HTTP/1.1 100 Continue\r\n\r\n")
            s.sendall(body)
            answer = read_all(s)
        self.assertEqual(status_of(answer), 200, answer)
        self.assertGreater(json.loads(body_of(answer))["count"], 0)

    def test_unknown_expectation_is_417(self):
        answer = self.exchange(request_bytes("GET", "/health", extra=["Expect: teapot"]))
        self.assertEqual(status_of(answer), 417, answer)

    def test_half_closed_client_still_gets_its_answer(self):
        body = json.dumps({"prompt": "half closed"}).encode()
        with connect(self.daemon) as s:
            s.sendall(request_bytes("POST", "/tokenize", body))
            s.shutdown(socket.SHUT_WR)
            answer = read_all(s)
        self.assertEqual(status_of(answer), 200, answer)
        self.assertIn(b'"tokens"', answer)

    def test_half_closed_generation_is_answered(self):
        body = json.dumps({"messages": [{"role": "user", "content": "hi"}],
                           "max_tokens": 4, "temperature": 0}).encode()
        with connect(self.daemon) as s:
            s.sendall(request_bytes("POST", "/v1/chat/completions", body,
                                    extra=["Content-Type: application/json"]))
            s.shutdown(socket.SHUT_WR)
            answer = read_all(s, 30.0)
        self.assertEqual(status_of(answer), 200, answer)
        self.assertEqual(json.loads(body_of(answer))["usage"]["completion_tokens"], 4)

    def test_foreign_host_is_refused_on_loopback(self):
        answer = self.exchange(request_bytes("GET", "/v1/models", host="attacker.example"))
        self.assertEqual(status_of(answer), 403, answer)
        self.assertIn(b"attacker.example", body_of(answer))
        for host in (f"127.0.0.1:{self.daemon.port}", "localhost", f"[::1]:{self.daemon.port}",
                     "mmd.internal:8000"):
            answer = self.exchange(request_bytes("GET", "/v1/models", host=host))
            self.assertEqual(status_of(answer), 200, (host, answer))

    def test_cross_origin_post_without_cors_permission_is_refused(self):
        body = json.dumps({"prompt": "x"}).encode()
        # What a web page's fetch(..., {mode: "no-cors"}) with a text/plain body sends.
        answer = self.exchange(request_bytes("POST", "/tokenize", body,
                                             extra=["Origin: http://evil.example",
                                                    "Content-Type: text/plain"]))
        self.assertEqual(status_of(answer), 403, answer)
        self.assertIn(b"cross-origin", body_of(answer))
        # The listed origin gets CORS headers; a same-origin page (Origin = Host) is fine.
        answer = self.exchange(request_bytes("POST", "/tokenize", body,
                                             extra=["Origin: http://app.example"]))
        self.assertEqual(status_of(answer), 200, answer)
        self.assertEqual(headers_of(answer)["access-control-allow-origin"], "http://app.example")
        answer = self.exchange(request_bytes("POST", "/tokenize", body,
                                             host=f"127.0.0.1:{self.daemon.port}",
                                             extra=[f"Origin: http://127.0.0.1:{self.daemon.port}"]))
        self.assertEqual(status_of(answer), 200, answer)

    def test_bearer_scheme_is_case_insensitive_and_the_key_exact(self):
        for auth, want in ((f"bearer {KEY}", 200), (f"BEARER {KEY}", 200),
                           (f"Bearer {KEY}x", 401), ("Bearer", 401), (f"Basic {KEY}", 401)):
            payload = (f"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n"
                       "Connection: close\r\n\r\n").encode()
            self.assertEqual(status_of(self.exchange(payload)), want, auth)

    def test_head_where_get_and_405_says_allow(self):
        for path in ("/health", "/v1/models", "/metrics"):
            answer = self.exchange(request_bytes("HEAD", path))
            self.assertEqual(status_of(answer), 200, (path, answer))
            self.assertEqual(body_of(answer), b"", path)
            self.assertGreater(int(headers_of(answer)["content-length"]), 0, path)
        answer = self.exchange(request_bytes("DELETE", "/v1/models"))
        self.assertEqual(status_of(answer), 405, answer)
        self.assertEqual(headers_of(answer)["allow"], "GET, HEAD")
        answer = self.exchange(request_bytes("GET", "/v1/chat/completions"))
        self.assertEqual(headers_of(answer)["allow"], "POST")

    def test_detokenize_ids_outside_the_vocabulary_are_400(self):
        answer = self.exchange(request_bytes("POST", "/detokenize",
                                             json.dumps({"tokens": [1, 10**6]}).encode()))
        self.assertEqual(status_of(answer), 400, answer)
        self.assertIn(b"tokens[1]", body_of(answer))

    def test_connections_past_the_limit_are_refused_clearly(self):
        idle = []
        try:
            refused = None
            for _ in range(10):  # the limit is 6; other tests' connections may still be closing
                s = connect(self.daemon)
                idle.append(s)
                s.settimeout(0.5)
                try:
                    data = s.recv(4096)
                except socket.timeout:
                    continue
                refused = data + read_all(s, 1.0)
                break
            self.assertIsNotNone(refused, "no connection was refused past the limit")
            self.assertEqual(status_of(refused), 503, refused)
            self.assertIn(b"--http-max-connections", body_of(refused))
            self.assertEqual(headers_of(refused).get("retry-after"), "1")
        finally:
            for s in idle:
                s.close()
        # The limit frees up as connections go.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if status_of(self.exchange(request_bytes("GET", "/health"))) == 200:
                break
            time.sleep(0.1)
        else:
            self.fail("no connection was accepted again after the idle ones closed")


def ping_worst(port, done, results):
    """GET /health every 20 ms until `done`; puts the worst round trip (s) in `results`."""
    worst = 0.0
    while not done.is_set():
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            if not read_all(s, 30.0).startswith(b"HTTP/1.1 200"):
                worst = float("inf")
        worst = max(worst, time.monotonic() - start)
        time.sleep(0.02)
    results.put(worst)


class LargeRequestStallTest(unittest.TestCase):
    """A large request is parsed, rendered and tokenized off the loop: other clients' round
    trips stay short meanwhile (it froze every client for 2.2 s per 9 MB message before)."""

    def test_other_clients_are_answered_while_a_large_request_is_prepared(self):
        daemon = Daemon("--http-max-body-bytes", str(40 * 1024 * 1024))
        try:
            # The pinger is its own process: in this one, json.loads of a 15 MB answer would
            # hold the GIL and show up as a stall that is not the daemon's.
            done = multiprocessing.Event()
            results = multiprocessing.Queue()
            pinger = multiprocessing.Process(target=ping_worst, args=(daemon.port, done, results))
            pinger.start()
            try:
                # A 9 MB chat message and a 15 MB prompt (under --max-prompt-bytes' 16 MiB),
                # each tokenized whole.
                chat = {"messages": [{"role": "user", "content": "lorem ipsum dolor " * 500000}]}
                prompt = {"prompt": "sit amet consectetur " * 700000}
                longest = 0.0
                for body in (chat, prompt):
                    start = time.monotonic()
                    status, text, _ = daemon.request("POST", "/tokenize", body,
                                                     {"Content-Type": "application/json"})
                    self.assertEqual(status, 200, text[:300])
                    took = time.monotonic() - start
                    longest = max(longest, took)
                    self.assertGreater(json.loads(text)["count"], 100000)
                    print(f"large /tokenize took {took:.2f} s", file=sys.stderr)
            finally:
                done.set()
                worst = [results.get(timeout=30)]
                pinger.join()
            # The bound: a loop that prepares requests itself answers nothing for the whole
            # preparation, so its worst round trip is about the longest request's time (0.6-3.6 s
            # measured here, growing with load). Off the loop a round trip is ~1 ms; on a busy
            # 2-core machine it waits for a core now and then, never for most of the request.
            self.assertLess(worst[0], 0.5 * longest,
                            f"worst /health round trip {worst[0]:.3f} s while the longest large "
                            f"request took {longest:.3f} s")
        finally:
            daemon.stop()

    def test_limits_on_prompt_bytes_and_stop_strings_are_named_400s(self):
        daemon = Daemon("--http-max-body-bytes", str(40 * 1024 * 1024), "--max-prompt-bytes",
                        str(1 << 20))
        try:
            def post(path, body):
                status, text, _ = daemon.request("POST", path, body,
                                                 {"Content-Type": "application/json"})
                return status, json.loads(text)

            big = "x " * (600 * 1024)  # 1.2 MB > 1 MiB
            for path, body, field in (
                    ("/tokenize", {"prompt": big}, "prompt"),
                    ("/v1/completions", {"prompt": big, "max_tokens": 1}, "prompt"),
                    ("/v1/chat/completions",
                     {"messages": [{"role": "user", "content": big}], "max_tokens": 1}, "messages")):
                status, answer = post(path, body)
                self.assertEqual(status, 400, (path, answer))
                self.assertEqual(answer["error"]["param"], field, answer)
                self.assertIn("--max-prompt-bytes", answer["error"]["message"])
            chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
            status, answer = post("/v1/chat/completions",
                                  {**chat, "stop": [f"s{i}" for i in range(100000)]})
            self.assertEqual(status, 400, answer)
            self.assertEqual(answer["error"]["param"], "stop")
            self.assertIn("at most 256", answer["error"]["message"])
            status, answer = post("/v1/chat/completions", {**chat, "stop": ["y" * 5000]})
            self.assertEqual(status, 400, answer)
            self.assertIn("5000 bytes", answer["error"]["message"])
            status, answer = post("/v1/chat/completions", {**chat, "stop": ["a", "b"]})
            self.assertEqual(status, 200, answer)
        finally:
            daemon.stop()


class DrainTest(unittest.TestCase):
    def test_health_answers_draining_while_sigterm_drains(self):
        daemon = Daemon("--drain-timeout", "60")
        try:
            body = json.dumps({"messages": [{"role": "user", "content": "count"}],
                               "max_tokens": 400, "temperature": 0, "ignore_eos": True,
                               "stream": True}).encode()
            s = connect(daemon)
            s.sendall(request_bytes("POST", "/v1/chat/completions", body,
                                    extra=["Content-Type: application/json"]))
            s.settimeout(30)
            self.assertIn(b"200 OK", s.recv(4096))
            daemon.proc.send_signal(signal.SIGTERM)
            seen = None
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and daemon.proc.poll() is None:
                try:
                    status, text, _ = daemon.get("/health")
                except OSError:
                    break
                if status == 503 and json.loads(text).get("status") == "draining":
                    seen = text
                    break
                time.sleep(0.05)
            self.assertIsNotNone(seen, "/health never answered 503 draining during the drain")
            rest = read_all(s, 60.0)
            self.assertIn(b"data: [DONE]", rest, "the running stream did not finish its drain")
            s.close()
            self.assertEqual(daemon.proc.wait(timeout=60), 0, daemon.log_text()[-4000:])
        finally:
            if daemon.proc.poll() is None:
                daemon.stop()
            else:
                daemon.log.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
