"""One embedkit trainer step equals one sentence-transformers trainer step (goldens from
tests/generate_trainer_fixtures.py): same model (dropout off), data, hyperparameters and loss."""

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
    np.testing.assert_allclose(after, g[f"{name}_after"], atol=moved * 1e-3)
