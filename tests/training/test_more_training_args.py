"""Training arguments transformers' Trainer reads and scripts written for sentence-transformers pass: ``optim`` /
``optim_args``, ``logging_strategy``, ``eval_delay``, ``full_determinism``, ``tf32``, ``torch_empty_cache_steps``,
the ``ddp_*`` options, and the script-level ``do_train`` / ``do_eval`` / ``do_predict`` / ``local_rank``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from embedkit.base import trainer_setup
from embedkit.base.trainer import SentenceTransformerTrainer
from embedkit.base.trainer_optimizer import build_optimizer, parse_optim_args
from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
from tests.training.helpers import CosineMSE, sts_rows, tiny_model


def _args(tmp_path, **kwargs) -> Args:
    base = dict(output_dir=str(tmp_path), per_device_train_batch_size=8, save_strategy="no", disable_tqdm=True)
    return Args(**{**base, **kwargs})


@pytest.mark.parametrize(("optim", "optim_args", "cls", "expected"), [
    ("adamw_torch_fused", None, torch.optim.AdamW, {"fused": True}),
    ("adamw_torch", None, torch.optim.AdamW, {"fused": None}),
    ("sgd", "momentum=0.9, nesterov=True", torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    ("adagrad", "lr_decay=0.01,eps=1e-6", torch.optim.Adagrad, {"lr_decay": 0.01, "eps": 1e-6}),
    ("rmsprop", "alpha=0.95,centered=true,unknown_key=1", torch.optim.RMSprop, {"alpha": 0.95, "centered": True}),
])
def test_optim_picks_the_optimizer_and_reads_optim_args_as_transformers(tmp_path, optim, optim_args, cls, expected):
    module = nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2))
    optimizer = build_optimizer(_args(tmp_path, optim=optim, optim_args=optim_args, learning_rate=0.01), module)
    assert type(optimizer) is cls and optimizer.defaults["lr"] == 0.01
    for key, value in expected.items():
        assert optimizer.defaults[key] == value, key
    assert "unknown_key" not in optimizer.defaults


def test_optim_errors(tmp_path):
    with pytest.raises(ValueError, match="optim='adamw_bnb_8bit' is not available in embedkit"):
        _args(tmp_path, optim="adamw_bnb_8bit")
    with pytest.raises(ValueError, match="optim_args must be key=value pairs"):
        parse_optim_args("momentum")
    assert parse_optim_args(None) == {}


def test_sgd_trains_with_the_plain_sgd_update(tmp_path):
    """One step with optim="sgd" (no momentum, no clipping): every weight moves by -lr * its gradient."""
    model = tiny_model(dropout=False)
    data = sts_rows(8)
    loss = CosineMSE(model)
    batch = [model.preprocess(data["sentence1"]), model.preprocess(data["sentence2"])]
    loss(batch, torch.tensor(data["score"])).backward()
    expected = {n: (p - 0.1 * p.grad).detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    args = _args(tmp_path, optim="sgd", learning_rate=0.1, max_steps=1, max_grad_norm=0, lr_scheduler_type="constant")
    SentenceTransformerTrainer(model, args, train_dataset=data, loss=loss).train()
    for name, param in model.named_parameters():
        if name in expected:
            torch.testing.assert_close(param.detach(), expected[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize(("strategy", "loss_steps"), [("steps", [2, 4, 6]), ("epoch", [3, 6]), ("no", [])])
def test_logging_strategy(tmp_path, strategy, loss_steps):
    model = tiny_model()
    args = _args(tmp_path, logging_strategy=strategy, logging_steps=2, num_train_epochs=2)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(24), loss=CosineMSE(model))
    trainer.train()  # 24 rows / batch 8: 3 steps an epoch, 6 in all
    assert [h["step"] for h in trainer.state.log_history if "loss" in h] == loss_steps
    assert "train_loss" in trainer.state.log_history[-1]  # the run's summary is logged whatever the strategy
    with pytest.raises(ValueError, match="logging_strategy must be one of"):
        _args(tmp_path, logging_strategy="sometimes")


@pytest.mark.parametrize(("strategy", "delay", "evaluated_at"), [("steps", 3, [3, 4, 5, 6]), ("epoch", 1, [3, 6]),
                                                            ("epoch", 2, [6])])
def test_eval_delay_holds_back_the_first_evaluations(tmp_path, strategy, delay, evaluated_at):
    model = tiny_model()
    args = _args(tmp_path, eval_strategy=strategy, eval_steps=1, eval_delay=delay, num_train_epochs=2)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=sts_rows(24), eval_dataset=sts_rows(8),
                                         loss=CosineMSE(model))
    trainer.train()
    assert [h["step"] for h in trainer.state.log_history if "eval_loss" in h] == evaluated_at
    assert args.do_eval is True  # an eval_strategy turns do_eval on, as in transformers


def test_full_determinism_turns_deterministic_algorithms_on(tmp_path):
    model = tiny_model()
    try:
        args = _args(tmp_path, full_determinism=True, max_steps=1)
        SentenceTransformerTrainer(model, args, train_dataset=sts_rows(8), loss=CosineMSE(model)).train()
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_tf32_and_empty_cache_steps_are_checked(tmp_path):
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="--tf32 requires Ampere or a newer GPU arch"):
            _args(tmp_path, tf32=True)
    flag = torch.backends.cuda.matmul.allow_tf32
    try:
        model = tiny_model()
        args = _args(tmp_path, tf32=False, torch_empty_cache_steps=1, max_steps=2)
        SentenceTransformerTrainer(model, args, train_dataset=sts_rows(16), loss=CosineMSE(model)).train()
        assert torch.backends.cuda.matmul.allow_tf32 is False
    finally:
        torch.backends.cuda.matmul.allow_tf32 = flag
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="`torch_empty_cache_steps` must be an integer bigger than 0"):
            _args(tmp_path, torch_empty_cache_steps=bad)


def test_ddp_options_reach_distributed_data_parallel(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(nn.parallel, "DistributedDataParallel", lambda module, **kwargs: seen.update(kwargs))
    trainer_setup.data_parallel(nn.Linear(2, 2), _args(tmp_path), torch.device("cpu"))
    assert seen == {"device_ids": None, "find_unused_parameters": True}
    seen.clear()
    trainer_setup.data_parallel(nn.Linear(2, 2), _args(tmp_path, ddp_find_unused_parameters=False,
                                                       ddp_broadcast_buffers=False, ddp_bucket_cap_mb=50,
                                                       ddp_static_graph=True), torch.device("cpu"))
    assert seen == {"device_ids": None, "find_unused_parameters": False, "broadcast_buffers": False,
                    "bucket_cap_mb": 50, "static_graph": True}


def test_script_level_arguments_are_accepted(tmp_path):
    args = _args(tmp_path, do_train=True, do_eval=False, do_predict=True, local_rank=0)
    assert (args.do_train, args.do_eval, args.do_predict, args.local_rank) == (True, False, True, 0)


def test_log_level_backend_and_accepted_hub_and_loader_arguments(tmp_path, monkeypatch):
    import logging

    logger = logging.getLogger("embedkit")
    before = logger.level
    try:
        model = tiny_model()
        args = _args(tmp_path, log_level="error", max_steps=1, hub_revision="main", hub_always_push=True,
                     dataloader_multiprocessing_context="spawn")
        SentenceTransformerTrainer(model, args, train_dataset=sts_rows(8), loss=CosineMSE(model)).train()
        assert logger.level == logging.ERROR
    finally:
        logger.setLevel(before)
    with pytest.raises(ValueError, match="log_level and log_level_replica must be one of"):
        _args(tmp_path, log_level="loud")
    with pytest.raises(ValueError, match="ddp_backend must be one of"):
        _args(tmp_path, ddp_backend="carrier-pigeon")
    with pytest.raises(ValueError, match="skip_memory_metrics=False is not supported"):
        _args(tmp_path, skip_memory_metrics=False)
    from embedkit import distributed

    seen = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda **kwargs: seen.update(kwargs))
    assert distributed.init_from_env(60, "gloo") and seen["backend"] == "gloo"


def test_path_arguments_become_text_and_checkpoints_save(tmp_path):
    """A pathlib.Path output_dir (as sentence-transformers' own tests pass) is kept as its text, ~ expanded, so the
    checkpoint's trainer_state.json can hold the arguments."""
    import os

    args = Args(output_dir=tmp_path / "out", resume_from_checkpoint=tmp_path / "nothing", save_strategy="no")
    assert args.output_dir == str(tmp_path / "out") and args.resume_from_checkpoint == str(tmp_path / "nothing")
    assert Args(output_dir="~/x").output_dir == os.path.expanduser("~/x")
    model = tiny_model()
    args = Args(output_dir=tmp_path / "run", per_device_train_batch_size=8, max_steps=1, disable_tqdm=True)
    SentenceTransformerTrainer(model, args, train_dataset=sts_rows(8), loss=CosineMSE(model)).train()
    assert (tmp_path / "run" / "checkpoint-1" / "trainer_state.json").is_file()


def test_arguments_sentence_transformers_trainer_bypasses_are_accepted(tmp_path):
    """Prediction / loss options of transformers that sentence-transformers' trainer does not use either."""
    model = tiny_model()
    extra = dict(label_smoothing_factor=0.1, eval_accumulation_steps=2, eval_do_concat_batches=False,
                 eval_use_gather_object=True, batch_eval_metrics=True, include_for_metrics=["inputs"],
                 label_names=["score"], average_tokens_across_devices=False, train_sampling_strategy="sequential",
                 length_column_name="n", use_cache=True)
    args = _args(tmp_path, max_steps=1, **extra)
    assert all(getattr(args, k) == v for k, v in extra.items())
    SentenceTransformerTrainer(model, args, train_dataset=sts_rows(8), loss=CosineMSE(model)).train()


def test_torch_compile_trains_the_same_weights_through_dynamo(tmp_path):
    """torch_compile with the eager backend (no C++ compiler needed): dynamo captures the loss modules and the run
    ends with the weights of an uncompiled run; the model itself stays uncompiled."""
    import torch._dynamo

    def train(**extra):
        model = tiny_model(dropout=False)
        args = _args(tmp_path / str(len(extra)), max_steps=2, learning_rate=1e-3, **extra)
        SentenceTransformerTrainer(model, args, train_dataset=sts_rows(16), loss=CosineMSE(model)).train()
        return model

    plain = train()
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled = train(torch_compile_backend="eager")
    assert torch._dynamo.utils.counters["stats"]["calls_captured"] > 0
    for (name, a), (_, b) in zip(plain.named_parameters(), compiled.named_parameters()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)
    assert not hasattr(compiled, "_orig_mod") and type(compiled).__name__ == "SentenceTransformer"
    torch._dynamo.reset()


def test_ignore_data_skip_starts_the_interrupted_epoch_over(tmp_path):
    """Resuming at step 2 of a 4-step epoch: by default steps 3-4 train the epoch's batches 3-4 and end it; with
    ignore_data_skip they train batches 1-2 again, so the epoch is half done at step 4."""
    import json
    import shutil

    data = sts_rows(16)

    def run(folder, max_steps, **extra):
        model = tiny_model()
        args = _args(tmp_path / folder, per_device_train_batch_size=4, save_strategy="steps", save_steps=2,
                     max_steps=max_steps, **extra)
        trainer = SentenceTransformerTrainer(model, args, train_dataset=data, loss=CosineMSE(model))
        trainer.train(resume_from_checkpoint=True if extra else None)
        return trainer

    run("first", 2)
    epochs = {}
    for skip in (False, True):
        shutil.copytree(tmp_path / "first" / "checkpoint-2", tmp_path / str(skip) / "checkpoint-2")
        assert run(str(skip), 4, ignore_data_skip=skip).state.global_step == 4
        saved = json.loads((tmp_path / str(skip) / "checkpoint-4" / "trainer_state.json").read_text())
        epochs[skip] = saved["epoch"]
    assert epochs == {False: 1.0, True: 0.5}
