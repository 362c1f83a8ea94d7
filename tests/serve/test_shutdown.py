"""``embedkit serve`` as a user runs it: SIGTERM while a request is in flight lets it finish, then exit 0."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from tests.serve.server_helpers import call

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "tests" / "fixtures" / "tiny_bert_v6")


def start_server(*options: str) -> tuple[subprocess.Popen, int]:
    """``python -m embedkit serve TINY --port 0 OPTIONS`` and the port it says it serves on."""
    proc = subprocess.Popen([sys.executable, "-m", "embedkit", "serve", TINY, "--port", "0", *options],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"serving .* on http://127\.0\.0\.1:(\d+)", line)
        if found:
            return proc, int(found.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"the server did not start: {proc.stderr.read()}")


@pytest.mark.slow  # a subprocess loading torch: 4-10 s
def test_sigterm_drains_in_flight_request_then_exits_0():
    # --max-wait-ms 1500: the request waits 1.5 s in the batcher, so it is in flight when the signal comes
    proc, port = start_server("--max-wait-ms", "1500")
    try:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(call, port, "POST", "/embed", {"inputs": ["still answered"]})
            time.sleep(0.4)
            proc.send_signal(signal.SIGTERM)  # SIGINT has the same handler
            time.sleep(0.3)
            with pytest.raises(OSError):  # no new connections once stopping
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            status, _, body = slow.result(timeout=30)
        assert status == 200 and len(body) == 1
        assert proc.wait(timeout=30) == 0
        assert "stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("option, value, message", [
    ("--max-inputs-per-request", "9999", "--max-inputs-per-request cannot exceed --max-queued-inputs"),
    ("--heap-trim-interval", "-1", "--max-wait-ms and --heap-trim-interval must be >= 0, --request-timeout and "
                                   "--idle-timeout > 0"),
])
def test_a_bad_limit_fails_in_one_line_before_any_model_loads(option, value, message):
    done = subprocess.run([sys.executable, "-m", "embedkit", "serve", TINY, option, value],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 1 and done.stderr.strip() == f"embedkit: error: {message}"


@pytest.mark.slow  # a subprocess loading torch: 4-10 s
def test_serve_quantize_int8_reports_int8_and_still_reranks():
    proc, port = start_server("--quantize", "int8", "--reranker", str(ROOT / "tests" / "fixtures" / "ce_bert1"))
    try:
        status, _, info = call(port, "GET", "/info")
        assert status == 200 and info["model_dtype"] == "int8"
        status, _, ranked = call(port, "POST", "/rerank", {"query": "a cat", "texts": ["a kitten", "the stock market"]})
        assert status == 200 and sorted(hit["index"] for hit in ranked) == [0, 1]
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_serve_quantize_int8_quantizes_every_served_model(monkeypatch):
    from embedkit.cli import main

    served = []
    monkeypatch.setattr("embedkit.serve.app.run_server", lambda server: served.append(server) or 0)
    fixtures = ROOT / "tests" / "fixtures"
    assert main(["serve", TINY, "--quantize", "int8", "--reranker", str(fixtures / "ce_bert1"),
                 "--sparse", str(fixtures / "se_bert_v6"), "--port", "0"]) == 0
    server = served[0]
    assert server.model.quantized == server.reranker.quantized == server.sparse.quantized == "int8"


def test_serve_warms_up_unless_told_not_to(monkeypatch):
    from embedkit.cli import main

    served = []
    monkeypatch.setattr("embedkit.serve.app.run_server", lambda server: served.append(server) or 0)
    assert main(["serve", TINY, "--port", "0"]) == 0
    assert main(["serve", TINY, "--port", "0", "--no-warm-up"]) == 0
    assert [server.config.warm_up for server in served] == [True, False]


def test_serve_puts_every_served_encoder_on_prepared_weights_where_the_gemms_run_on_onednn(monkeypatch):
    """``--optimize-for-inference`` (default: where the engine's GEMMs run on oneDNN) freezes the layers of every
    served model, ``--no-optimize-for-inference`` none; either way the outputs are the plain model's."""
    from embedkit.cli import main
    from embedkit.encoders.engine import DEFAULT_OPTIONS, FrozenEncoderLayer, _engine_encoders, onednn

    served = []
    monkeypatch.setattr("embedkit.serve.app.run_server", lambda server: served.append(server) or 0)
    fixtures = ROOT / "tests" / "fixtures"
    companions = ["--reranker", str(fixtures / "ce_bert1"), "--sparse", str(fixtures / "se_bert_v6")]
    for flag in ([], ["--optimize-for-inference"], ["--no-optimize-for-inference"]):
        assert main(["serve", TINY, *companions, "--port", "0", "--heap-trim-interval", "0", *flag]) == 0
    auto, on, off = served

    def frozen(server) -> list[bool]:
        models = (server.model, server.reranker, server.sparse)
        return [all(type(layer) is FrozenEncoderLayer for enc in _engine_encoders(model) for layer in enc.layers)
                for model in models]

    available = onednn.onednn_available()
    assert frozen(on) == [available] * 3
    assert frozen(off) == [False] * 3
    assert frozen(auto) == [available and DEFAULT_OPTIONS.gemms_on_onednn()] * 3
    assert [m.optimized_for_inference for m in (on.model, on.reranker, on.sparse)] == [available] * 3
    texts = ["a cat sat on the mat", "the stock market fell", "hi"]
    torch.testing.assert_close(on.model.encode(texts, convert_to_tensor=True),
                               off.model.encode(texts, convert_to_tensor=True), atol=1e-6, rtol=1e-6)
    pairs = [("a cat", text) for text in texts]
    torch.testing.assert_close(on.reranker.predict(pairs, convert_to_tensor=True),
                               off.reranker.predict(pairs, convert_to_tensor=True), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(on.sparse.encode(texts, convert_to_tensor=True).to_dense(),
                               off.sparse.encode(texts, convert_to_tensor=True).to_dense(), atol=1e-6, rtol=1e-6)


def test_batch_workers_option_sets_the_batchers_worker_count(monkeypatch):
    from embedkit.cli import main

    served = []
    monkeypatch.setattr("embedkit.serve.app.run_server", lambda server: served.append(server) or 0)
    for flag in ([], ["--batch-workers", "1"], ["--batch-workers", "3"]):
        assert main(["serve", TINY, "--port", "0", "--heap-trim-interval", "0", *flag]) == 0
    assert [server.batcher.workers for server in served] == [2, 1, 3]
    assert main(["serve", TINY, "--batch-workers", "0"]) == 2 and len(served) == 3  # a usage error, nothing served
