"""The engine's chunks of texts (embedkit/encoders/engine/text_chunks.py): which batches it splits, that the split
result equals the whole-batch one and the reference encoder, that calls too small to split run on one torch thread,
and that it leaves torch's thread settings alone."""

from __future__ import annotations

import os
import threading
import time

import pytest
import torch
from torch import nn

from embedkit.encoders import BertModel, EncoderConfig, MPNetModel
from embedkit.encoders import engine as engine_module
from embedkit.encoders.engine import InferenceEngine, optimize_for_inference, text_chunks
from embedkit.encoders.engine.text_chunks import (
    CHUNK_WORKERS,
    MAX_CHUNK_TOKENS,
    MIN_CHUNK_TOKENS,
    one_torch_thread,
    plan_chunks,
    run_in_chunks,
)

needs_openmp = pytest.mark.skipif(not text_chunks.OPENMP, reason="chunks of texts run on OpenMP builds of torch")


def _encoder(kind: str) -> nn.Module:
    torch.manual_seed(0)
    common = {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
              "intermediate_size": 64, "max_position_embeddings": 514}
    if kind == "bert":
        return BertModel(EncoderConfig(**common)).eval()
    return MPNetModel(EncoderConfig(model_type="mpnet", **common)).eval()


def _batch(lengths: list[int], width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) ids and mask, right-padded: row i has lengths[i] real tokens."""
    width = width or max(lengths)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 100, (len(lengths), width), generator=generator)
    mask = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long()
    return ids * mask + (1 - mask), mask  # padding id 1


# Batches by the kinds of chunk plans they give (workers=2): enough tokens for several chunks with every row
# padded, rows of equal length (no padding at all), one long text beside many short ones, a batch too small to split.
BATCHES = {
    "several_chunks_padded": [200, 180, 150, 120, 90, 60, 40, 30, 20, 10, 5, 3],
    "equal_lengths_no_padding": [128] * 8,
    "one_long_many_short": [500] + [4] * 40,
    "too_small_to_split": [30, 20, 10],
}


@pytest.mark.parametrize("lengths", list(BATCHES.values()), ids=list(BATCHES))
def test_plans_cover_every_text_once_in_order_in_equal_chunks(lengths):
    for workers in (1, 2, 3, 8):
        chunks = plan_chunks(lengths, workers)
        assert [i for chunk in chunks for i in chunk] == list(range(len(lengths)))
        sizes = [sum(lengths[i] for i in chunk) for chunk in chunks]
        # a text goes where its middle token falls, so chunks differ from an equal share by less than one text each
        share = sum(lengths) / len(chunks)
        assert all(abs(size - share) <= max(lengths) for size in sizes), sizes
        assert max(sizes) <= MAX_CHUNK_TOKENS + max(lengths)


def test_plan_sizes():
    assert plan_chunks([30, 20, 10], 2) == [[0, 1, 2]]  # under MIN_CHUNK_TOKENS: not cut
    assert plan_chunks([MIN_CHUNK_TOKENS], 2) == [[0]]  # one text
    # 32 short queries (576 tokens): one equal chunk per worker, not 256 + 256 + 64 with a worker idle at the end
    assert plan_chunks([18] * 32, 2) == [list(range(16)), list(range(16, 32))]
    assert plan_chunks([100] * 9, 3) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert plan_chunks([300] * 4, 2) == [[0], [1], [2], [3]]  # 1200 tokens: two chunks per worker
    assert len(plan_chunks([128] * 64, 2)) == 8  # 8192 tokens: 4 chunks per worker, 1024 each
    assert len(plan_chunks([128] * 256, 2)) == 32  # 32768 tokens: more chunks, none above MAX_CHUNK_TOKENS
    with pytest.raises(ValueError, match="workers"):
        plan_chunks([5], 0)


@needs_openmp
@pytest.mark.parametrize("kind", ["bert", "mpnet"])
@pytest.mark.parametrize("name", [n for n in BATCHES if n != "too_small_to_split"])
@pytest.mark.parametrize("frozen", [False, True], ids=["default", "frozen"])
def test_chunked_output_equals_the_whole_batch_and_the_reference(kind, name, frozen, monkeypatch):
    encoder = _encoder(kind)
    ids, mask = _batch(BATCHES[name])
    real = mask.bool()
    with torch.inference_mode():
        reference = encoder(ids, mask).last_hidden_state
    if frozen:
        optimize_for_inference(encoder)
    calls = []
    monkeypatch.setattr(engine_module, "run_in_chunks", lambda *a: calls.append(1) or run_in_chunks(*a))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            chunked = InferenceEngine(encoder)(ids, mask).last_hidden_state
            assert calls, "the batch was not split"
            calls.clear()
            whole = InferenceEngine(encoder, text_chunks=False)(ids, mask).last_hidden_state
            assert not calls
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert chunked.shape == whole.shape == reference.shape
    torch.testing.assert_close(chunked[real], whole[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(chunked[real], reference[real], atol=1e-5, rtol=1e-5)
    assert chunked[~real].abs().sum() == 0  # padding positions hold zeros
    assert not chunked.requires_grad


@needs_openmp
def test_not_split_with_one_thread_one_text_or_hidden_states(monkeypatch):
    encoder = _encoder("bert")
    monkeypatch.setattr(engine_module, "run_in_chunks", lambda *a, **k: pytest.fail("split"))
    ids, mask = _batch(BATCHES["several_chunks_padded"])
    threads = torch.get_num_threads()
    try:
        with torch.inference_mode():
            torch.set_num_threads(1)
            InferenceEngine(encoder)(ids, mask)
            torch.set_num_threads(2)
            InferenceEngine(encoder)(ids[:1], mask[:1])
            out = InferenceEngine(encoder)(ids, mask, output_hidden_states=True)
            assert len(out.hidden_states) == 3
    finally:
        torch.set_num_threads(threads)


def test_without_a_mask_rows_are_full_length():
    encoder = _encoder("bert")
    ids, _ = _batch([256] * 4)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            got = InferenceEngine(encoder)(ids).last_hidden_state
            want = encoder(ids).last_hidden_state
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_under_no_grad_the_result_is_an_ordinary_tensor():
    encoder = _encoder("bert")
    ids, mask = _batch(BATCHES["several_chunks_padded"])
    out = None
    with torch.no_grad():
        out = run_in_chunks(lambda i, m, t: encoder(i, m).last_hidden_state, ids, mask, None,
                            plan_chunks(mask.sum(1).tolist(), 2), 2)
    assert not out.is_inference()
    out.add_(1)  # an inference tensor would refuse this outside inference mode


def test_an_error_in_a_worker_is_raised_in_the_caller_and_threads_are_restored():
    ids, mask = _batch([300] * 6)
    seen = []

    def forward(i, m, t):
        seen.append(torch.get_num_threads())
        raise RuntimeError("boom in a worker")

    threads = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="boom in a worker"):
        run_in_chunks(forward, ids, mask, None, plan_chunks([300] * 6, 2), 2)
    assert torch.get_num_threads() == threads
    assert seen and set(seen) == {1}  # workers run torch on one thread each
    assert len(seen) <= 2  # after the first error no worker takes another chunk


class _ThreadSpy:
    """Wraps ``InferenceEngine._forward`` to record the torch thread count each forward ran with."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[int] = []
        forward = InferenceEngine._forward

        def spy(engine, *args):
            self.seen.append(torch.get_num_threads())
            return forward(engine, *args)

        monkeypatch.setattr(InferenceEngine, "_forward", spy)


@needs_openmp
@pytest.mark.parametrize("kind", ["bert", "mpnet"])
@pytest.mark.parametrize("frozen", [False, True], ids=["default", "frozen"])
def test_calls_too_small_to_split_run_on_one_thread_unless_openmp_is_asked_for(kind, frozen, monkeypatch):
    encoder = _encoder(kind)
    small, small_mask = _batch(BATCHES["too_small_to_split"])
    with torch.inference_mode():
        reference = encoder(small, small_mask).last_hidden_state
    if frozen:
        optimize_for_inference(encoder)
    monkeypatch.setattr(engine_module, "DEFAULT_OPTIONS", engine_module.EngineOptions())  # no EMBEDKIT_* set
    spy = _ThreadSpy(monkeypatch)
    monkeypatch.setattr(engine_module, "run_in_chunks", lambda *a, **k: pytest.fail("split"))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            got = InferenceEngine(encoder)(small, small_mask).last_hidden_state  # a few short texts
            InferenceEngine(encoder)(small[:1, :5], small_mask[:1, :5])  # one text, no padding
            assert spy.seen == [1, 1] and torch.get_num_threads() == 2
            spy.seen.clear()
            omp = InferenceEngine(encoder, openmp_small_calls=True)(small, small_mask).last_hidden_state
            InferenceEngine(encoder, text_chunks=False)(small, small_mask)  # every op on torch's threads
            InferenceEngine(encoder)(small, small_mask, output_hidden_states=True)  # never cut, torch's threads
            assert spy.seen == [2, 2, 2]
            torch.set_num_threads(1)
            InferenceEngine(encoder)(small, small_mask)
            assert spy.seen[-1] == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    real = small_mask.bool()
    torch.testing.assert_close(got[real], reference[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[real], omp[real], atol=1e-5, rtol=1e-5)


def test_one_torch_thread_restores_the_count_after_an_error():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="inside"), one_torch_thread():
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def _stack(kind: str) -> nn.Module:
    """An encoder whose layers the engine does not compute itself: it schedules their own forward."""
    from embedkit.encoders import build_encoder
    from embedkit.encoders.gemma3 import Gemma3Config
    from embedkit.encoders.modernbert import ModernBertConfig
    from embedkit.encoders.qwen3 import Qwen3Config

    torch.manual_seed(0)
    common = {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
              "intermediate_size": 48, "pad_token_id": 1}
    decoder = {"num_key_value_heads": 2, "head_dim": 8, "sliding_window": 64}
    config = {"modernbert": lambda: ModernBertConfig(**common, local_attention=16, global_attn_every_n_layers=2),
              "qwen3": lambda: Qwen3Config(**common, **decoder, max_window_layers=1),
              "gemma3": lambda: Gemma3Config(**common, **decoder, sliding_window_pattern=2,
                                             use_bidirectional_attention=True)}[kind]()
    return build_encoder(config).eval()


@needs_openmp
@pytest.mark.parametrize("kind,side", [("modernbert", "right"), ("qwen3", "left"), ("qwen3", "right"),
                                       ("gemma3", "right"), ("gemma3", "left")])
@pytest.mark.parametrize("name", ["several_chunks_padded", "one_long_many_short"])
def test_other_encoders_run_their_own_forward_in_chunks_padded_on_either_side(kind, side, name, monkeypatch):
    encoder = _stack(kind)
    ids, mask = _batch(BATCHES[name])
    if side == "left":  # the same texts, padding moved to the start of each row
        order = torch.argsort(mask, dim=1, stable=True)
        ids, mask = ids.gather(1, order), mask.gather(1, order)
    real = mask.bool()
    calls = []
    monkeypatch.setattr(engine_module, "run_in_chunks", lambda *a: calls.append(1) or run_in_chunks(*a))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            assert not InferenceEngine(encoder).applies()  # not the engine's layer code ...
            chunked = InferenceEngine(encoder)(ids, mask).last_hidden_state
            assert calls, "the batch was not split"  # ... but its scheduling
            whole = encoder(ids, mask).last_hidden_state
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(chunked[real], whole[real], atol=1e-5, rtol=1e-5)


@needs_openmp
@pytest.mark.parametrize("kind", ["modernbert", "qwen3", "gemma3"])
def test_other_encoders_run_small_calls_on_one_thread_and_training_calls_as_they_are(kind, monkeypatch):
    encoder = _stack(kind)
    small, small_mask = _batch(BATCHES["too_small_to_split"])
    seen = []
    forward = type(encoder).forward

    def spy(module, *args, **kwargs):
        seen.append((torch.get_num_threads(), torch.is_grad_enabled()))
        return forward(module, *args, **kwargs)

    monkeypatch.setattr(type(encoder), "forward", spy)
    monkeypatch.setattr(engine_module, "DEFAULT_OPTIONS", engine_module.EngineOptions())  # no EMBEDKIT_* set
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            InferenceEngine(encoder)(small, small_mask)
        InferenceEngine(encoder)(small, small_mask)  # gradients wanted: the plain forward, torch's threads
        encoder.train()
        with torch.inference_mode():
            InferenceEngine(encoder)(small, small_mask)  # training mode: the same
    finally:
        torch.set_num_threads(threads)
    assert seen == [(1, False), (2, True), (2, False)]


# ------------------------------------------------------------------ the kept chunk threads (ChunkWorkers)
def _tag(ids, mask, types):
    """A forward that gives each token its id (as (b, t, 1) floats) and notes the thread it ran on."""
    _TAGGED.add(threading.current_thread().name)
    return ids[..., None].float()


_TAGGED: set[str] = set()


def test_chunk_threads_are_kept_between_calls_and_leave_the_callers_threads_alone():
    ids, mask = _batch([300] * 6)
    chunks = plan_chunks([300] * 6, 2)
    threads = torch.get_num_threads()
    before = {t.ident for t in threading.enumerate() if t.name.startswith("embedkit-chunk")}
    for _ in range(3):
        out = run_in_chunks(_tag, ids, mask, None, chunks, 2)
        torch.testing.assert_close(out[..., 0], (ids * mask).float())
    after = {t.ident for t in threading.enumerate() if t.name.startswith("embedkit-chunk")}
    assert len(after) == CHUNK_WORKERS.threads >= 2
    assert before <= after and (not before or before == after)  # started once, then the same threads
    assert torch.get_num_threads() == threads


def test_calls_from_two_threads_at_once_share_the_workers_and_give_their_own_results():
    lengths = [300] * 8
    chunks = plan_chunks(lengths, 2)
    active, most, lock = [0], [0], threading.Lock()
    both_started = threading.Barrier(2, timeout=10)

    def forward(i, m, t):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.01)
        with lock:
            active[0] -= 1
        return i[..., None].float()

    batches = [_batch(lengths, width=300)[0] + k * 1000 for k in range(2)]  # different ids per caller
    mask = torch.ones(8, 300, dtype=torch.long)
    outs: list = [None, None]

    def caller(k):
        both_started.wait()
        outs[k] = run_in_chunks(forward, batches[k], mask, None, chunks, 2)

    callers = [threading.Thread(target=caller, args=(k,)) for k in range(2)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join(30)
    for k in range(2):
        torch.testing.assert_close(outs[k][..., 0], batches[k].float())
    assert most[0] <= 2  # two callers, four runners, yet never more chunks at once than the two workers


def test_a_call_from_a_chunk_thread_runs_its_runners_itself():
    seen = []

    def inner():
        seen.append(threading.current_thread().name)

    def outer():
        CHUNK_WORKERS.run([inner, inner], workers=2)  # would wait forever for busy workers if queued

    done = threading.Thread(target=lambda: CHUNK_WORKERS.run([outer, outer], workers=2))
    done.start()
    done.join(10)
    assert not done.is_alive()
    assert len(seen) == 4 and all(name.startswith("embedkit-chunk") for name in seen)


def test_an_exception_escaping_a_runner_is_raised_and_the_workers_go_on():
    def bad():
        raise KeyError("escaped")

    with pytest.raises(KeyError, match="escaped"):
        CHUNK_WORKERS.run([bad, lambda: None], workers=2)
    seen = []
    CHUNK_WORKERS.run([lambda: seen.append(1)] * 3, workers=2)
    assert seen == [1, 1, 1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_its_own_chunk_threads():
    ids, mask = _batch([300] * 6)
    chunks = plan_chunks([300] * 6, 2)
    run_in_chunks(_tag, ids, mask, None, chunks, 2)  # the parent's threads exist
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's threads are not here; a call must start new ones and finish
        try:
            out = run_in_chunks(_tag, ids, mask, None, chunks, 2)
            ok = bool(torch.equal(out[..., 0], (ids * mask).float()))
            os.write(write, b"ok" if ok else b"wrong")
        finally:
            os._exit(0)
    os.close(write)
    for _ in range(600):  # 30 s
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            break
        time.sleep(0.05)
    else:  # the child hangs: it waited for threads it does not have
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child did not finish its call")
    assert os.read(read, 16) == b"ok"


def test_chunks_of_rows_that_are_not_runs_are_written_back_to_their_rows():
    ids, mask = _batch([5, 3, 4, 2])
    for chunks in ([[0, 1], [2, 3]], [[0, 2], [1, 3]], [[3, 0], [2], [1]]):  # runs, interleaved, out of order
        out = run_in_chunks(_tag, ids, mask, None, chunks, 2)
        assert torch.equal(out[..., 0] * mask, (ids * mask).float())  # real tokens: each its own row's id
