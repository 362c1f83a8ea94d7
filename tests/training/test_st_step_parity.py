"""One embedkit trainer step equals one sentence-transformers trainer step (goldens from
tests/generate_trainer_fixtures.py): same model (dropout off), data, hyperparameters and loss.

Tolerance: 1% of how far the step moved the probe embeddings. The goldens were recorded on a 2-core AVX2 EPYC
(2026-12-05), where embedkit's step is within 9e-8 of ST's in all four cases; a CPU with other kernels (AVX-512)
rounds differently, and Adam's first step divides each gradient element by its own magnitude, so elements whose
gradient is near rounding level move by a full learning rate either way (ST itself differed from goldens made on an
AVX-512 CPU by up to 5.0e-3 x the movement). A wrong loss, scale, accumulation or clipping moves
the embeddings by the order of the movement itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedkit import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from tests.conftest import golden
from tests.generate_trainer_fixtures import ARGS, CASES, PROBES, data_for, loss_for, no_dropout_copy, own_parameters


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_step_matches_st(tmp_path, name):
    from embedkit.sentence_transformer import losses

    case, g = CASES[name], golden("trainer_step")
    model = SentenceTransformer(str(no_dropout_copy(tmp_path / "m")), device="cpu")
    np.testing.assert_allclose(model.encode(PROBES), g[f"{name}_before"], atol=1e-6)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=case["batch"],
        gradient_accumulation_steps=case["accum"], disable_tqdm=True,
        **{k: v for k, v in {**ARGS, **case.get("args", {})}.items() if k != "report_to"})
    loss = loss_for(losses, case, model)
    own = dict(loss.named_parameters())
    for key in own_parameters(loss, model):  # the loss's own weights start from sentence-transformers' draw
        own[key].data.copy_(torch.from_numpy(g[f"{name}_loss.{key}_before"]))
    trainer = SentenceTransformerTrainer(model, args, train_dataset=data_for(case["data"]), loss=loss)
    trainer.train()
    after = model.encode(PROBES)
    moved = np.abs(g[f"{name}_after"] - g[f"{name}_before"]).max()
    assert moved > 1e-3
    np.testing.assert_allclose(after, g[f"{name}_after"], atol=moved * 1e-2)
    for key, value in own_parameters(loss, model).items():  # updated by the same, unclipped gradient
        moved = np.abs(g[f"{name}_loss.{key}_after"] - g[f"{name}_loss.{key}_before"]).max()
        np.testing.assert_allclose(value, g[f"{name}_loss.{key}_after"], atol=moved * 1e-2, err_msg=key)
    logged = [h["grad_norm"] for h in trainer.state.log_history if "grad_norm" in h]  # the model's gradient only
    np.testing.assert_allclose(logged, g[f"{name}_grad_norm"], rtol=1e-4)
