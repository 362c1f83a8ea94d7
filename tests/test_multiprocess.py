"""Multi-process encoding: same embeddings, same order as one process; a clear error without the __main__ guard."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from embedkit import SentenceTransformer
from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow


def test_pool_and_device_list_match_single_process(texts):
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    data = texts["tiny"] * 3
    expected = model.encode(data)
    pool = model.start_multi_process_pool(["cpu", "cpu"])
    try:
        np.testing.assert_allclose(model.encode(data, pool=pool, chunk_size=4), expected, atol=1e-6)
        as_int8 = model.encode(data, pool=pool, precision="int8")  # calibrated after the merge, like one process
        single = model.encode(data, precision="int8").astype(int)
        assert as_int8.dtype == np.int8 and np.abs(as_int8.astype(int) - single).max() <= 1  # 1-thread float noise
    finally:
        SentenceTransformer.stop_multi_process_pool(pool)
    np.testing.assert_allclose(model.encode(data, device=["cpu", "cpu"]), expected, atol=1e-6)


def test_missing_main_guard_fails_clearly_instead_of_hanging(tmp_path):
    script = tmp_path / "no_guard.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(FIXTURES.parent.parent)!r})
        from embedkit import SentenceTransformer
        model = SentenceTransformer({str(FIXTURES / "tiny_bert_v6")!r}, device="cpu")
        model.encode(["a", "b"], device=["cpu", "cpu"])
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180)
    assert out.returncode != 0
    assert 'if __name__ == "__main__":' in out.stderr


def test_cross_encoder_predict_on_a_pool_matches_one_process():
    from embedkit import CrossEncoder

    ce = CrossEncoder(FIXTURES / "ce_bert3", device="cpu")
    pairs = [(f"query {i}", f"document number {i} " * (i % 5 + 1)) for i in range(13)]
    expected = ce.predict(pairs)
    pool = ce.start_multi_process_pool(["cpu", "cpu"])
    try:
        np.testing.assert_allclose(ce.predict(pairs, pool=pool, chunk_size=3), expected, atol=1e-6)
        np.testing.assert_allclose(ce.predict(pairs, pool=pool, apply_softmax=True),
                                   ce.predict(pairs, apply_softmax=True), atol=1e-6)
    finally:
        CrossEncoder.stop_multi_process_pool(pool)
    ranked = ce if ce.num_labels == 1 else CrossEncoder(FIXTURES / "ce_bert1", device="cpu")
    one = ranked.rank("query", [d for _, d in pairs])
    many = ranked.rank("query", [d for _, d in pairs], device=["cpu", "cpu"])
    assert [h["corpus_id"] for h in many] == [h["corpus_id"] for h in one]


def test_sparse_encoder_encode_on_a_pool_matches_one_process():
    import torch

    from embedkit import SparseEncoder

    se = SparseEncoder(str(FIXTURES / "se_bert_v6"), device="cpu")
    texts = [f"sentence number {i} about " + "words " * (i % 4) for i in range(11)]
    expected = se.encode_document(texts).to_dense()
    got = se.encode_document(texts, device=["cpu", "cpu"], chunk_size=3)
    assert got.is_sparse and got.shape == expected.shape
    torch.testing.assert_close(got.to_dense(), expected, atol=1e-6, rtol=0)
    assert torch.equal(got.to_dense() != 0, expected != 0)
    dense_rows = se.encode(texts, device=["cpu", "cpu"], convert_to_sparse_tensor=False, convert_to_tensor=False)
    assert len(dense_rows) == len(texts) and not dense_rows[0].is_sparse


def test_pool_calls_are_isolated_thread_safe_and_fail_fast_on_stopped_or_dead_workers():
    import os
    import signal
    import threading
    import time

    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    first = [f"first call text {i}" for i in range(400)]
    second = [f"second call, another text {i}" for i in range(400)]
    pool = model.start_multi_process_pool(["cpu", "cpu"])
    try:
        # 1. A call that fails in a worker leaves chunks behind; the next call must get only its own rows.
        with pytest.raises((RuntimeError, TypeError)):
            model.encode(first[:200] + [None] + first[200:], pool=pool, chunk_size=10)
        np.testing.assert_allclose(model.encode(second, pool=pool, chunk_size=10), model.encode(second), atol=1e-6)

        # 2. Three threads on one pool: each gets its own rows, none hangs.
        batches = {n: [f"thread {n} text {i}" for i in range(120)] for n in range(3)}
        got: dict[int, np.ndarray] = {}
        threads = [threading.Thread(target=lambda n=n: got.__setitem__(n, model.encode(batches[n], pool=pool,
                                                                                          chunk_size=7)))
                   for n in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert sorted(got) == [0, 1, 2]
        for n, texts in batches.items():
            np.testing.assert_allclose(got[n], model.encode(texts), atol=1e-6)

        # 3. A stopped worker: the call fails within seconds, naming it, instead of waiting forever.
        worker = pool["processes"][0]
        os.kill(worker.pid, signal.SIGSTOP)
        stat = f"/proc/{worker.pid}/stat"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the signal is delivered asynchronously: wait until it took effect
            text = open(stat).read()
            if text[text.rindex(")") + 2:].startswith("T"):
                break
            time.sleep(0.01)
        try:
            start = time.monotonic()
            with pytest.raises(RuntimeError, match=f"pid {worker.pid}.*stopped"):
                model.encode(second, pool=pool, chunk_size=10)
            assert time.monotonic() - start < 30
        finally:
            os.kill(worker.pid, signal.SIGCONT)

        # 4. A killed worker: named with its signal and the advice to start a new pool, now and on later calls.
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(timeout=30)
        for _ in range(2):
            with pytest.raises(RuntimeError, match="killed by SIGKILL.*start a new one") as error:
                model.encode(second, pool=pool, chunk_size=10)
            assert "__main__" not in str(error.value)
    finally:
        SentenceTransformer.stop_multi_process_pool(pool)


def test_the_pools_model_copy_and_workers_go_away_when_the_parent_is_killed(tmp_path):
    import os
    import signal
    import time

    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(FIXTURES.parent.parent)!r})
        from embedkit import SentenceTransformer
        if __name__ == "__main__":
            model = SentenceTransformer({str(FIXTURES / "tiny_bert_v6")!r}, device="cpu")
            pool = model.start_multi_process_pool(["cpu", "cpu"])
            model.encode(["a", "b", "c"], pool=pool, chunk_size=1)  # the workers are up
            print(pool["folder"], *[p.pid for p in pool["processes"]], flush=True)
            time.sleep(600)
    """))
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # its temporary folder lands here, away from other tests' pools
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        folder, *pids = parent.stdout.readline().split()
        assert os.path.isdir(folder) and folder.startswith(str(tmp_path)), folder
        assert os.path.basename(folder).startswith(f"embedkit-pool-{parent.pid}-")
    finally:
        parent.kill()  # SIGKILL: no stop_multi_process_pool, no atexit
        parent.wait(timeout=30)

    def alive(pid):
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        stat = open(f"/proc/{pid}/stat").read() if os.path.exists(f"/proc/{pid}/stat") else ""
        return not stat[stat.rindex(")") + 2:].startswith("Z") if stat else True

    deadline = time.monotonic() + 60  # a generous bound for a hang, not a speed
    while time.monotonic() < deadline and (os.path.exists(folder) or any(alive(pid) for pid in pids)):
        time.sleep(0.1)
    assert not os.path.exists(folder), "the workers remove the model copy when their parent is gone"
    assert not [pid for pid in pids if alive(pid)], "the workers exit when their parent is gone"
    for pid in pids:
        if alive(pid):
            os.kill(int(pid), signal.SIGKILL)


def test_a_new_pool_sweeps_model_copies_of_dead_parents(tmp_path):
    import os

    from embedkit.multiprocess import _sweep_stale_copies

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: its pid names no process (until reused, when the copy is conservatively kept)
    stale = tmp_path / f"embedkit-pool-{gone.pid}-abc"
    live = tmp_path / f"embedkit-pool-{os.getpid()}-def"
    other = tmp_path / "embedkit-pool-notapid-x"
    for folder in (stale, live, other):
        (folder / "model").mkdir(parents=True)
    _sweep_stale_copies(str(tmp_path))
    assert not stale.exists() and live.exists() and other.exists()
