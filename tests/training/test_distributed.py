"""DDP with 2 gloo processes on CPU against one process on the global batch (torchrun-style environment)."""

from __future__ import annotations

import os
import socket
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from embedkit.base.trainer import SentenceTransformerTrainer
from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
from embedkit.sentence_transformer import SentenceTransformer
from tests.conftest import FIXTURES
from tests.training.helpers import CosineMSE, sts_rows, tiny_model

pytestmark = [pytest.mark.slow, pytest.mark.distributed,
              pytest.mark.skipif(sys.platform == "win32", reason="gloo on CPU")]

COMMON = dict(max_steps=2, adam_epsilon=1.0, learning_rate=0.5, save_strategy="no", disable_tqdm=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out_dir: str, per_device: int, accum: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    syncs = []
    original = torch.nn.parallel.DistributedDataParallel.__init__

    def counting_init(self, *args, **kwargs):  # count gradient all-reduces with a DDP communication hook
        original(self, *args, **kwargs)

        def hook(state, bucket):
            syncs.append(bucket.index())
            from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

            return allreduce_hook(None, bucket)

        self.register_comm_hook(None, hook)

    torch.nn.parallel.DistributedDataParallel.__init__ = counting_init
    model = tiny_model(dropout=False)
    trainer = SentenceTransformerTrainer(model, Args(output_dir=out_dir, per_device_train_batch_size=per_device,
                                                     gradient_accumulation_steps=accum, **COMMON),
                                         train_dataset=sts_rows(), loss=CosineMSE(model))
    trainer.train()
    if rank == 0:
        torch.save({"state": model.state_dict(), "syncs": syncs, "steps": trainer.state.global_step},
                   os.path.join(out_dir, "result.pt"))


def run_ddp(tmp_path, per_device: int, accum: int) -> dict:
    out = str(tmp_path / f"ddp_{per_device}_{accum}")
    os.makedirs(out, exist_ok=True)
    mp.spawn(_worker, args=(2, free_port(), out, per_device, accum), nprocs=2, join=True)
    return torch.load(os.path.join(out, "result.pt"), weights_only=True)


def test_ddp_pointwise_loss_with_accumulation_equals_single_process_and_syncs_once_per_step(tmp_path):
    # 2 ranks x 2 rows x 2 micro-steps == 1 process x 8 rows: the same 8 rows per optimizer step.
    result = run_ddp(tmp_path, per_device=2, accum=2)
    single = tiny_model(dropout=False)
    SentenceTransformerTrainer(single, Args(output_dir=str(tmp_path / "single"), per_device_train_batch_size=4,
                                            gradient_accumulation_steps=2, **COMMON),
                               train_dataset=sts_rows(), loss=CosineMSE(single)).train()
    before = tiny_model().state_dict()
    assert any(not torch.equal(v, before[k]) for k, v in result["state"].items())
    for key, value in single.state_dict().items():
        torch.testing.assert_close(result["state"][key], value, atol=2e-6, rtol=1e-4, msg=key)
    assert result["steps"] == 2
    assert len(result["syncs"]) == result["steps"] * len(set(result["syncs"])) and set(result["syncs"]) == {0}, (
        f"expected exactly one gradient all-reduce (one bucket) per optimizer step, got {result['syncs']}")


def _failing_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    from embedkit.base.trainer import TrainerCallback

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)

    class Die(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2 and rank == 1:
                raise ValueError("rank 1 broke")

    model = tiny_model()
    try:
        SentenceTransformerTrainer(model, Args(output_dir=out_dir, max_steps=6, save_strategy="no", disable_tqdm=True,
                                               per_device_train_batch_size=2, ddp_timeout=60),
                                   train_dataset=sts_rows(), loss=CosineMSE(model), callbacks=[Die()]).train()
    except BaseException as exc:
        with open(os.path.join(out_dir, f"rank{rank}.txt"), "w") as f:
            f.write(f"{type(exc).__name__}: {exc}")
        raise


def test_one_rank_failing_ends_all_ranks_with_a_clear_error(tmp_path):
    # join=False: mp.spawn(join=True) SIGTERMs the surviving rank as soon as one rank fails, which would hide
    # whether that rank notices the failure by itself. Wait for both to exit on their own instead.
    context = mp.start_processes(_failing_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=False)
    for process in context.processes:
        process.join(timeout=90)
    alive = [p.pid for p in context.processes if p.is_alive()]
    for p in context.processes:
        if p.is_alive():
            p.kill()
    assert not alive, "a rank kept waiting after the other one failed"  # a behaviour with a generous bound, no speed
    assert all(p.exitcode != 0 for p in context.processes), [p.exitcode for p in context.processes]
    assert (tmp_path / "rank1.txt").read_text() == "ValueError: rank 1 broke"
    assert "rank 0: distributed training stopped" in (tmp_path / "rank0.txt").read_text()


PAIRS = {"anchor": [f"anchor text {w}" for w in "abcdefgh"], "positive": [f"positive about {w}{w}" for w in "abcdefgh"]}
PROBES = ["a probe sentence", "another probe", "x y z"]


def model_without_dropout(fixture: str) -> SentenceTransformer:
    """A fixture model with every dropout off (``tiny_bert_v6`` is :func:`tiny_model`'s)."""
    if fixture == "tiny_bert_v6":
        return tiny_model(dropout=False)
    model = SentenceTransformer(str(FIXTURES / fixture), device="cpu")
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if hasattr(module, "dropout_p"):
            module.dropout_p = 0.0
    return model


def _mnrl_step(out_dir: str, cached: bool | str, fixture: str) -> None:
    """One DDP step of MNRL with negatives gathered across ranks; rank 0 saves the probes' embeddings after it.
    ``cached`` is True for CachedMNRL, or ``"checkpointed"`` for plain MNRL with activation checkpointing."""
    from embedkit.sentence_transformer.losses import MultipleNegativesRankingLoss
    from embedkit.sentence_transformer.losses.cached_multiple_negatives_ranking import (
        CachedMultipleNegativesRankingLoss,
    )

    model = model_without_dropout(fixture).double()  # float64: the comparison is exact, not at fp32's noise floor
    loss = (CachedMultipleNegativesRankingLoss(model, mini_batch_size=3, gather_across_devices=True)
            if cached is True else MultipleNegativesRankingLoss(model, gather_across_devices=True))
    SentenceTransformerTrainer(model, Args(output_dir=out_dir, per_device_train_batch_size=4, max_steps=1,
                                           adam_epsilon=1.0, learning_rate=20.0, save_strategy="no",
                                           disable_tqdm=True, gradient_checkpointing=cached == "checkpointed"),
                               train_dataset=PAIRS, loss=loss).train()
    if os.environ["RANK"] == "0":
        torch.save(torch.from_numpy(model.encode(PROBES)), os.path.join(out_dir, "probes.pt"))


def _mnrl_worker(rank: int, world: int, port: int, out_dir: str, cached: bool | str,
                 fixtures: tuple[str, ...]) -> None:
    """The trainer starts and ends the process group for one fixture; for several, one group serves every run (the
    trainer leaves a group it did not start), which saves a process start per fixture."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    if len(fixtures) == 1:
        _mnrl_step(out_dir, cached, fixtures[0])
        return
    dist.init_process_group("gloo")
    try:
        for fixture in fixtures:
            _mnrl_step(os.path.join(out_dir, fixture), cached, fixture)
        dist.barrier()  # both ranks done (rank 0 has written its probes) before the group goes
    finally:
        dist.destroy_process_group()


def _single_process_step(out_dir: str, fixture: str) -> tuple[np.ndarray, np.ndarray]:
    """The probes' embeddings before and after the same step as one process on the global batch of 8 rows."""
    from embedkit.sentence_transformer.losses import MultipleNegativesRankingLoss

    single = model_without_dropout(fixture).double()
    before = single.encode(PROBES)
    SentenceTransformerTrainer(single, Args(output_dir=out_dir, per_device_train_batch_size=8, max_steps=1,
                                            adam_epsilon=1.0, learning_rate=20.0, save_strategy="no",
                                            disable_tqdm=True),
                               train_dataset=PAIRS, loss=MultipleNegativesRankingLoss(single)).train()
    return before, single.encode(PROBES)


def _assert_ddp_step_equals_single_process(ddp: np.ndarray, before: np.ndarray, after: np.ndarray) -> None:
    moved = np.abs(after - before)
    assert moved.max() > 1e-3
    relative = np.abs(ddp - after).max() / moved.max()
    assert relative < 1e-6, f"DDP step differs from the single-process step by {relative:.2e} of the step size"


@pytest.mark.parametrize("cached", [False, True, "checkpointed"])
def test_ddp_gather_across_devices_equals_single_process_global_batch(tmp_path, cached):
    """2 ranks x 4 rows with negatives gathered from both ranks == 1 process x 8 rows (one AdamW step with
    adam_epsilon=1, so the update is linear in the gradient); also with CachedMNRL, and with the layers
    checkpointed (``gradient_checkpointing=True``) on both ranks."""
    mp.spawn(_mnrl_worker, args=(2, free_port(), str(tmp_path), cached, ("tiny_bert_v6",)), nprocs=2, join=True)
    ddp = torch.load(tmp_path / "probes.pt", weights_only=True).numpy()
    _assert_ddp_step_equals_single_process(ddp, *_single_process_step(str(tmp_path / "single"), "tiny_bert_v6"))


def test_ddp_gathered_gradcache_equals_single_process_on_the_other_encoder_families(tmp_path):
    """The same with CachedMNRL (GradCache under DDP) on RoBERTa, DistilBERT and ModernBERT, in one process group."""
    families = ("roberta_st", "distilbert_st", "modernbert_st")
    for fixture in families:
        (tmp_path / fixture).mkdir()
    mp.spawn(_mnrl_worker, args=(2, free_port(), str(tmp_path), True, families), nprocs=2, join=True)
    for fixture in families:
        ddp = torch.load(tmp_path / fixture / "probes.pt", weights_only=True).numpy()
        _assert_ddp_step_equals_single_process(ddp, *_single_process_step(str(tmp_path / f"single_{fixture}"),
                                                                          fixture))


def _resume_worker(rank: int, world: int, port: int, out_dir: str, mode: str, nodes: bool = False) -> None:
    """``nodes``: each rank plays the first process of its own node, with its own disk (``out_dir/node<rank>``),
    and saves with ``save_on_each_node=True``."""
    from embedkit.base.trainer import TrainerCallback

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK="0" if nodes else str(rank))
    torch.set_num_threads(1)
    if nodes:
        out_dir = os.path.join(out_dir, f"node{rank}")

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if mode == "crash" and state.global_step == 3:
                raise KeyboardInterrupt("simulated failure of the whole job")

    model = tiny_model()  # dropout on: RNG states must be restored per rank
    trainer = SentenceTransformerTrainer(model, Args(output_dir=out_dir, max_steps=5, save_steps=2, learning_rate=1e-3,
                                                     per_device_train_batch_size=2, disable_tqdm=True,
                                                     save_on_each_node=nodes),
                                         train_dataset=sts_rows(), loss=CosineMSE(model), callbacks=[Crash()])
    try:
        trainer.train(resume_from_checkpoint=mode == "resume")
    except KeyboardInterrupt:
        return
    if rank == 0:
        torch.save(model.state_dict(), os.path.join(out_dir, f"final_{mode}.pt"))


def test_resume_under_ddp_equals_an_uninterrupted_ddp_run(tmp_path):
    full, interrupted = tmp_path / "full", tmp_path / "interrupted"
    mp.spawn(_resume_worker, args=(2, free_port(), str(full), "full"), nprocs=2, join=True)
    mp.spawn(_resume_worker, args=(2, free_port(), str(interrupted), "crash"), nprocs=2, join=True)
    assert sorted(p.name for p in interrupted.glob("checkpoint-*")) == ["checkpoint-2"]
    mp.spawn(_resume_worker, args=(2, free_port(), str(interrupted), "resume"), nprocs=2, join=True)
    a = torch.load(full / "final_full.pt", weights_only=True)
    b = torch.load(interrupted / "final_resume.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_save_on_each_node_lets_every_node_resume_from_its_own_disk(tmp_path):
    """Two ranks as the first processes of two nodes, each with its own output_dir: with save_on_each_node both
    write checkpoint-2 (every rank's RNG state included), and resuming each from its own disk equals the
    uninterrupted run."""
    full, nodes = tmp_path / "full", tmp_path / "nodes"
    mp.spawn(_resume_worker, args=(2, free_port(), str(full), "full"), nprocs=2, join=True)
    mp.spawn(_resume_worker, args=(2, free_port(), str(nodes), "crash", True), nprocs=2, join=True)
    for node in ("node0", "node1"):
        assert sorted(p.name for p in (nodes / node).glob("checkpoint-*")) == ["checkpoint-2"]
    mp.spawn(_resume_worker, args=(2, free_port(), str(nodes), "resume", True), nprocs=2, join=True)
    a = torch.load(full / "final_full.pt", weights_only=True)
    b = torch.load(nodes / "node0" / "final_resume.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def _eval_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    from embedkit.sentence_transformer.evaluation import SentenceEvaluator

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)

    class Probe(SentenceEvaluator):
        """Scores the model by a weight sum; counts on which rank it runs."""

        def __init__(self) -> None:
            super().__init__()
            self.primary_metric, self.calls = "probe", 0

        def __call__(self, model, output_path=None, epoch=-1, steps=-1):
            self.calls += 1
            return {"probe": float(sum(p.double().sum() for p in model.parameters())) + rank * 1000.0}

    model, probe = tiny_model(dropout=False), Probe()
    trainer = SentenceTransformerTrainer(model, Args(output_dir=out_dir, max_steps=2, per_device_train_batch_size=2,
                                                     eval_strategy="steps", eval_steps=1, save_strategy="no",
                                                     disable_tqdm=True),
                                         train_dataset=sts_rows(), eval_dataset=sts_rows(), loss=CosineMSE(model),
                                         evaluator=probe)
    trainer.train()
    # each rank times its own evaluation (eval_runtime, ..._per_second), as in transformers; the metrics agree
    evals = [{k: v for k, v in h.items() if k.startswith("eval_") and not k.endswith(("_runtime", "_per_second"))}
             for h in trainer.state.log_history if "eval_probe" in h]
    torch.save({"calls": probe.calls, "evals": evals}, os.path.join(out_dir, f"rank{rank}.pt"))


def test_evaluators_run_on_rank_zero_and_every_rank_logs_the_same_metrics(tmp_path):
    mp.spawn(_eval_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    zero, one = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert zero["calls"] == 2 and one["calls"] == 0
    assert zero["evals"] == one["evals"] and len(zero["evals"]) == 2
    assert all(e["eval_probe"] < 1000 for e in zero["evals"])  # rank 0's value, broadcast to rank 1
    assert all("eval_loss" in e for e in zero["evals"])  # eval loss averaged over ranks, the same everywhere
