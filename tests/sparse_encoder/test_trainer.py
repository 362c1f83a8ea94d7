"""SparseEncoderTrainer end to end: default SpladeLoss, the automatic regulariser warm-up, training lowers the loss,
and the checkpoint loads back as a SparseEncoder."""

from __future__ import annotations

import json
import math

import pytest
import torch

from embedkit.base.training_args import SparseEncoderTrainingArguments
from embedkit.sparse_encoder import SparseEncoder
from embedkit.sparse_encoder.callbacks import SpladeRegularizerWeightSchedulerCallback
from embedkit.sparse_encoder.losses import (
    CachedSpladeLoss,
    SparseMSELoss,
    SparseMultipleNegativesRankingLoss,
    SpladeLoss,
)
from embedkit.sparse_encoder.trainer import SparseEncoderTrainer
from tests.conftest import FIXTURES


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tensors are tiny: with 2+ intra-op threads on a shared, busy CPU every parallel region waits for a
    descheduled thread, which made this module ~20x slower. One thread is also faster when the CPU is idle."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model() -> SparseEncoder:
    return SparseEncoder(str(FIXTURES / "se_bert_v6"), device="cpu")


def _pairs(n: int = 8) -> dict[str, list[str]]:
    real = json.loads((FIXTURES / "texts.json").read_text(encoding="utf-8"))["real"]
    return {"anchor": real[:n], "positive": real[n:2 * n]}


def _args(tmp_path, **kw) -> SparseEncoderTrainingArguments:
    base = dict(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, max_steps=5, learning_rate=5e-4,
                save_strategy="no", logging_steps=1, disable_tqdm=True, seed=0, warmup_ratio=0.0)
    return SparseEncoderTrainingArguments(**{**base, **kw})


def test_default_loss_is_splade_with_warmup_callback(tmp_path):
    model = _model()
    trainer = SparseEncoderTrainer(model, _args(tmp_path), train_dataset=_pairs())
    loss = trainer.losses[""]
    assert isinstance(loss, SpladeLoss) and isinstance(loss.loss, SparseMultipleNegativesRankingLoss)
    assert (loss.document_regularizer_weight, loss.query_regularizer_weight) == (3e-5, 5e-5)
    first = trainer.callbacks[0]
    assert isinstance(first, SpladeRegularizerWeightSchedulerCallback) and first.loss is loss
    assert sum(isinstance(c, SpladeRegularizerWeightSchedulerCallback) for c in trainer.callbacks) == 1


def test_user_callback_is_kept_and_moved_first(tmp_path):
    model = _model()
    loss = CachedSpladeLoss(model, SparseMultipleNegativesRankingLoss(model), 3e-5, 5e-5, mini_batch_size=2)
    mine = SpladeRegularizerWeightSchedulerCallback(loss, scheduler_type="linear")

    class Other:
        pass

    other = Other()
    trainer = SparseEncoderTrainer(model, _args(tmp_path), train_dataset=_pairs(), loss=loss,
                                   callbacks=[other, mine])
    assert trainer.callbacks == [mine, other]


def test_no_callback_for_other_losses(tmp_path):
    model = _model()
    data = {"text": ["a", "b"], "label": [[0.0] * 1505, [0.0] * 1505]}
    trainer = SparseEncoderTrainer(model, _args(tmp_path), train_dataset=data, loss=SparseMSELoss(model))
    assert not any(isinstance(c, SpladeRegularizerWeightSchedulerCallback) for c in trainer.callbacks)


def _base_loss(model: SparseEncoder, data: dict[str, list[str]]) -> float:
    loss = SparseMultipleNegativesRankingLoss(model)
    model.eval()
    with torch.no_grad():
        embeddings = [model(model.preprocess(data[c]))["sentence_embedding"] for c in ("anchor", "positive")]
        value = float(loss.compute_loss_from_embeddings(embeddings))
    model.train()
    return value


def test_training_lowers_loss_and_checkpoint_loads(tmp_path):
    torch.manual_seed(0)
    model = _model()
    data = _pairs()
    before = _base_loss(model, data)
    args = _args(tmp_path, save_strategy="steps", save_steps=5)
    trainer = SparseEncoderTrainer(model, args, train_dataset=data)
    output = trainer.train()
    assert output.global_step == 5
    after = _base_loss(model, data)
    assert after < before - 1e-3, (before, after)

    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 5
    assert {"base_loss", "document_regularizer_loss", "query_regularizer_loss"} <= set(logs[0])
    # Warm-up over int(5 / 3) = 1 step: the regularisers are off at step 0, at full weight afterwards. The callback
    # adds its weights to the logs it is handed: shown (training_log.jsonl), not kept in log_history (as ST).
    assert not any("document_regularizer_weight" in h for h in trainer.state.log_history)
    shown = [json.loads(line) for line in (tmp_path / "out" / "training_log.jsonl").read_text().splitlines()]
    shown = [h for h in shown if "loss" in h]
    assert [h["step"] for h in shown] == [1, 2, 3, 4, 5]
    assert shown[0]["document_regularizer_weight"] == 0.0 and logs[0]["document_regularizer_loss"] == 0.0
    assert shown[-1]["document_regularizer_weight"] == pytest.approx(3e-5)
    assert shown[-1]["query_regularizer_weight"] == pytest.approx(5e-5)
    assert logs[-1]["query_regularizer_loss"] > 0

    reloaded = SparseEncoder(str(tmp_path / "out" / "checkpoint-5"), device="cpu")
    texts = ["a cat sits outside", "rain is falling"]
    torch.testing.assert_close(reloaded.encode(texts, convert_to_sparse_tensor=False),
                               model.encode(texts, convert_to_sparse_tensor=False))


def test_cached_splade_trains(tmp_path):
    torch.manual_seed(0)
    model = _model()
    loss = CachedSpladeLoss(model, SparseMultipleNegativesRankingLoss(model), 3e-5, 5e-5, mini_batch_size=2)
    trainer = SparseEncoderTrainer(model, _args(tmp_path, max_steps=2), train_dataset=_pairs(), loss=loss)
    assert isinstance(trainer.callbacks[0], SpladeRegularizerWeightSchedulerCallback)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 2 and all(math.isfinite(h["grad_norm"]) and h["grad_norm"] > 0 for h in logs)
    assert logs[-1]["loss"] == pytest.approx(
        logs[-1]["base_loss"] + logs[-1]["document_regularizer_loss"] + logs[-1]["query_regularizer_loss"],
        abs=2e-4)  # the components are logged rounded to 4 decimals, as ST logs them
