"""The dynamic batcher's plan and worker, and the HTTP layer's protocol errors (raw sockets)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedkit.serve.app import EmbeddingServer, ServeConfig
from embedkit.serve.batching import DynamicBatcher, QueueFull, plan_batches
from tests.serve.server_helpers import ServerThread, call


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 100), max_size=40), st.integers(1, 8), st.integers(1, 300))
def test_plan_batches_covers_every_input_once_within_limits(lengths, max_size, max_tokens):
    batches = plan_batches(lengths, max_size, max_tokens)
    assert sorted(p for batch in batches for p in batch) == list(range(len(lengths)))
    for batch in batches:
        longest = max(lengths[p] for p in batch)
        assert len(batch) <= max_size
        assert len(batch) == 1 or len(batch) * longest <= max_tokens
        assert [lengths[p] for p in batch] == sorted((lengths[p] for p in batch), reverse=True)


def run_async(coro):
    return asyncio.run(coro)


def test_batcher_groups_by_key_and_returns_results_in_order():
    calls = []

    def run_batch(key, inputs):
        calls.append((key, list(inputs)))
        return [f"{key}:{x}" for x in inputs]

    async def scenario():
        batcher = DynamicBatcher(run_batch, max_batch_tokens=1000, max_batch_size=16, max_wait_ms=50,
                                 max_queued_inputs=100)
        batcher.start()
        a = batcher.submit("k1", ["a", "bbb"], [1, 3])
        b = batcher.submit("k2", ["c"], [1])
        c = batcher.submit("k1", ["dd"], [2])
        results = await asyncio.gather(a.future, b.future, c.future)
        batcher.stop()
        return results

    assert run_async(scenario()) == [["k1:a", "k1:bbb"], ["k2:c"], ["k1:dd"]]
    assert sorted(calls) == [("k1", ["bbb", "dd", "a"]), ("k2", ["c"])]  # one pass per key, longest first


def test_batcher_refuses_over_the_queue_bound_and_reports_batch_errors():
    release = threading.Event()

    def run_batch(key, inputs):
        release.wait(5)
        raise RuntimeError("model broke")

    async def scenario():
        batcher = DynamicBatcher(run_batch, max_wait_ms=0, max_queued_inputs=3)
        batcher.start()
        job = batcher.submit("k", ["a", "b"], [1, 1])
        with pytest.raises(QueueFull):
            batcher.submit("k", ["c", "d"], [1, 1])
        release.set()
        with pytest.raises(RuntimeError, match="model broke"):
            await job.future
        await asyncio.sleep(0.05)
        depth = batcher.depth
        batcher.stop()
        return depth

    assert run_async(scenario()) == 0


def test_two_workers_run_two_batches_at_once_and_drain_on_stop():
    both_running = threading.Barrier(2, timeout=10)  # the first two batches each wait until the other one runs
    calls, threads, lock = [0], set(), threading.Lock()

    def run_batch(key, inputs):
        with lock:
            calls[0] += 1
            first_two = calls[0] <= 2
            threads.add(threading.current_thread().name)
        if first_two:
            both_running.wait()  # raises BrokenBarrierError (a failed job) if the batches ran one after the other
        time.sleep(0.05)
        return [x.upper() for x in inputs]

    async def scenario():
        batcher = DynamicBatcher(run_batch, max_wait_ms=0, max_queued_inputs=100, workers=2)
        batcher.start()
        first = batcher.submit("k", ["a", "b"], [1, 1])
        await asyncio.sleep(0.02)  # one worker has taken the first job and waits in its batch
        second = batcher.submit("k", ["c"], [1])
        results = await asyncio.gather(first.future, second.future)
        third = batcher.submit("k", ["d"], [1])
        await asyncio.to_thread(batcher.stop)  # finishes the queued job first
        return results, await asyncio.wait_for(third.future, 10), batcher.depth

    results, third, depth = run_async(scenario())
    assert results == [["A", "B"], ["C"]] and third == ["D"] and depth == 0
    assert threads <= {"embedkit-serve-worker-0", "embedkit-serve-worker-1"} and len(threads) == 2


def test_a_batcher_needs_a_worker():
    with pytest.raises(ValueError, match="workers must be >= 1"):
        DynamicBatcher(lambda key, inputs: inputs, workers=0)


class FakeModel:
    """A SentenceTransformer stand-in whose ``encode`` sleeps ``delay`` seconds, then fails or gives zeros."""

    prompts, default_prompt_name, max_seq_length = {}, None, 16

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        from embedkit.tokenizer import Tokenizer
        from tests.serve.test_server import FIX

        self.tokenizer = Tokenizer(FIX / "tiny_bert_v6")
        self.delay, self.fail = delay, fail

    def get_embedding_dimension(self) -> int:
        return 4

    def encode(self, inputs, **kwargs):
        import torch

        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("out of memory\nsecond line")
        return torch.zeros(len(inputs), 4)


def test_a_failing_model_gives_500_json_and_the_server_goes_on():
    with ServerThread(EmbeddingServer(FakeModel(fail=True), ServeConfig(port=0))) as port:
        status, _, body = call(port, "POST", "/embed", {"inputs": "x"})
        assert status == 500 and body["error"] == "inference failed: out of memory"
        assert call(port, "GET", "/health")[0] == 200


def test_the_event_loop_answers_while_the_model_runs():
    with ServerThread(EmbeddingServer(FakeModel(delay=1.5), ServeConfig(port=0, max_wait_ms=0))) as port:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(call, port, "POST", "/embed", {"inputs": "x"})
            time.sleep(0.2)
            start = time.monotonic()
            assert call(port, "GET", "/health")[0] == 200
            assert time.monotonic() - start < 0.5 and not slow.done()
            assert slow.result()[0] == 200


@pytest.mark.parametrize("raw, status", [
    (b"GARBAGE\r\n\r\n", 400), (b"GET /health HTTP/2.0\r\n\r\n", 505),
    (b"POST /embed HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
    (b"POST /embed HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
    ("POST /embed HTTP/1.1\r\nContent-Length: \u00b2\r\n\r\n".encode("latin-1"), 400),  # a digit to isdigit()
    (b"POST /embed HTTP/1.1\r\nContent-Length: 15\r\nContent-Length: 14\r\n\r\n{\"inputs\": \"x\"}", 400),
    (b"POST /embed HTTP/1.1\r\nHost: x\r\n\r\n{\"inputs\": \"x\"}", 411),  # the body's end is unknown
    (b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
])
def test_protocol_errors_answer_json_and_close(raw, status):
    from embedkit import SentenceTransformer
    from tests.serve.test_server import FIX

    server = EmbeddingServer(SentenceTransformer(str(FIX / "tiny_bert_v6")), ServeConfig(port=0))
    with ServerThread(server) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(raw)
            data = b""
            while chunk := sock.recv(65536):  # the server closes the connection after the error
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.split(b" ")[1] == str(status).encode() and b"Connection: close" in head
        assert body.startswith(b'{"error":')
        assert (b'"error_type":"Validation"' in body) == (status < 500)  # 505: "Backend", as other 5xx
        assert data.count(b"HTTP/1.1 ") == 1  # nothing after the error is read as another request


def test_idle_connections_are_closed_after_the_idle_timeout():
    with ServerThread(EmbeddingServer(FakeModel(), ServeConfig(port=0, idle_timeout_s=0.3))) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\n")  # an unfinished request head
            start = time.monotonic()
            assert sock.recv(1024) == b""  # closed by the server
            assert 0.2 < time.monotonic() - start < 3


def test_expect_100_continue_is_answered_before_the_body():
    with ServerThread(EmbeddingServer(FakeModel(), ServeConfig(port=0))) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            body = b'{"inputs": "x"}'
            sock.sendall(b"POST /embed HTTP/1.1\r\nExpect: 100-continue\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body))
            assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(body)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"[[0.0,0.0,0.0,0.0]]")


# Every kind of float32 value an embedding can hold: fractions of each magnitude, subnormals, the extremes, signed
# zeros and whole numbers (which keep their ".0"), in vectors and lists of vectors, empty ones included.
FLOAT32_KINDS = [0.1, -0.7071068, 1e-3, 3.4028235e38, -3.4028235e38, 1.1754944e-38, 1e-45, -1e-45, 0.0, -0.0, 1.0,
                 -2.0, 16777216.0, 123456.78, 2.5e-7]


@pytest.mark.parametrize("shape", [(len(FLOAT32_KINDS),), (3, len(FLOAT32_KINDS)), (0, 4), (2, 0), (0,)])
def test_float32_json_gives_back_every_float32_value_exactly(shape):
    import json

    import numpy as np

    from embedkit.serve.http import Float32Json, json_bytes

    values = np.resize(np.array(FLOAT32_KINDS, dtype=np.float32), shape)
    if values.ndim == 2 and values.size:
        values = np.stack([np.roll(row, i) for i, row in enumerate(values)])  # the kinds at other places in each row
    text = json_bytes({"data": Float32Json(values)}).decode()
    parsed = np.array(json.loads(text)["data"], dtype=np.float32).reshape(shape)
    assert parsed.tobytes() == values.tobytes()  # bitwise: signs of zeros included
    assert len(text) <= len(json.dumps({"data": values.tolist()}, separators=(",", ":")))
    numbers = [t for t in text.replace("[", ",").replace("]", ",").replace("}", ",").split(",")[1:] if t]
    assert all(("." in t or "e" in t) for t in numbers), numbers  # every number reads as a float, 0.0 too


def test_float32_json_gives_back_random_float32_values_of_every_magnitude_exactly():
    """Nine significant digits are needed (eight lose some of these values) and enough."""
    import json

    import numpy as np

    from embedkit.serve.http import Float32Json, json_bytes

    rng = np.random.default_rng(0)
    values = (rng.standard_normal((8, 384)) * 10.0 ** rng.integers(-40, 37, (8, 384))).astype(np.float32)
    assert np.isfinite(values).all()  # (a non-finite value would send the whole array the plain way)
    parsed = np.array(json.loads(json_bytes(Float32Json(values))), dtype=np.float32)
    assert parsed.tobytes() == values.tobytes()
    eight = np.array([float("%.8g" % x) for x in values.ravel().tolist()], dtype=np.float32)
    assert eight.tobytes() != values.tobytes()


def test_float32_json_writes_whole_numbers_and_non_finite_values_as_json_does():
    import json

    import numpy as np

    from embedkit.serve.http import Float32Json, json_bytes

    whole = np.array([[0.0, 1.0, -3.0, -0.0]], dtype=np.float32)
    assert json_bytes(Float32Json(whole)) == json.dumps(whole.tolist(), separators=(",", ":")).encode()
    odd = np.array([0.5, float("nan"), float("inf")], dtype=np.float32)
    assert json_bytes(Float32Json(odd)) == b"[0.5,NaN,Infinity]"
    with pytest.raises(ValueError, match="vector or a list of vectors"):
        Float32Json(np.zeros((1, 2, 3), dtype=np.float32))


def test_json_bytes_with_its_placeholder_text_in_the_data_writes_the_plain_way():
    """The text that stands in for a vector while ``json`` writes the rest can also come from a client (a model
    name); the answer is then written without the shortcut, never mixed up."""
    import json

    import numpy as np

    from embedkit.serve import http

    vector = np.array([0.25, 0.1], dtype=np.float32)
    value = {"model": http._SLOT, "embedding": http.Float32Json(vector), "other": [http._SLOT]}
    parsed = json.loads(http.json_bytes(value))
    assert parsed == {"model": http._SLOT, "embedding": vector.tolist(), "other": [http._SLOT]}
    with pytest.raises(TypeError, match="not JSON serializable"):
        http.json_bytes({"x": object()})
