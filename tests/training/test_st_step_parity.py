"""One embedkit trainer step equals one sentence-transformers trainer step (goldens from
tests/generate_trainer_fixtures.py): same model (dropout off), data, hyperparameters and loss.

Tolerance: 1% of how far the step moved the probe embeddings. On one CPU embedkit's step equals ST's bitwise (measured
on an AVX2-only EPYC, all three cases: max |diff| 0.0), but the goldens carry the rounding of the CPU that made them
(AVX-512), and Adam's first step divides each gradient element by its own magnitude, so elements whose gradient is
near rounding level move by a full learning rate either way. ST itself, run on the AVX2 CPU, differs from its goldens
by up to 5.0e-3 x the movement (mnrl; cosent 1.5e-3, cosine_accum 1.7e-4). A wrong loss, scale or accumulation moves
the embeddings by the order of the movement itself."""

from __future__ import annotations

import numpy as np
import pytest

from embedkit import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from tests.conftest import golden
from tests.generate_trainer_fixtures import ARGS, CASES, PROBES, data_for, no_dropout_copy


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_step_matches_st(tmp_path, name):
    from embedkit.sentence_transformer import losses

    case, g = CASES[name], golden("trainer_step")
    model = SentenceTransformer(str(no_dropout_copy(tmp_path / "m")), device="cpu")
    np.testing.assert_allclose(model.encode(PROBES), g[f"{name}_before"], atol=1e-6)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=case["batch"],
        gradient_accumulation_steps=case["accum"], disable_tqdm=True, **{k: v for k, v in ARGS.items()
                                                                          if k != "report_to"})
    trainer = SentenceTransformerTrainer(model, args, train_dataset=data_for(case["data"]),
                                         loss=getattr(losses, case["loss"])(model))
    trainer.train()
    after = model.encode(PROBES)
    moved = np.abs(g[f"{name}_after"] - g[f"{name}_before"]).max()
    assert moved > 1e-3
    np.testing.assert_allclose(after, g[f"{name}_after"], atol=moved * 1e-2)
