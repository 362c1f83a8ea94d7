"""Checks every encoder family's tests run on their own fixtures: the engine's fallback to the reference layers, and
one training step that moves the named weights."""

from __future__ import annotations

import numpy as np
import torch

from embedkit import SentenceTransformer


def check_engine_falls_back_to_the_reference_path(folder: str, texts: list[str], golden_emb: np.ndarray) -> None:
    """Default encode, the reference forward (gradients on: the engine never applies) and the encode after
    ``optimize_for_inference()`` agree, and match sentence-transformers' embeddings."""
    model = SentenceTransformer(folder, device="cpu")
    default = model.encode(texts, batch_size=4)
    with torch.enable_grad():
        reference = model(model.preprocess(texts))["sentence_embedding"].detach().numpy()
    model.optimize_for_inference()
    np.testing.assert_array_equal(default, model.encode(texts, batch_size=4))
    assert np.abs(default - reference).max() <= 1e-6 and np.abs(default - golden_emb).max() <= 2e-5


def check_one_training_step_moves(folder: str, output_dir: str, keys: list[str]) -> None:
    """One MultipleNegativesRankingLoss step through the trainer leaves finite weights and changes each of ``keys``
    (state-dict names of the SentenceTransformer)."""
    from embedkit.base.trainer import SentenceTransformerTrainer
    from embedkit.base.training_args import SentenceTransformerTrainingArguments
    from embedkit.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = SentenceTransformer(folder, device="cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    anchors = [f"question number {i} about the cat" for i in range(8)]
    positives = [f"answer {i}: the cat sat on the mat" for i in range(8)]
    args = SentenceTransformerTrainingArguments(output_dir=output_dir, max_steps=1, per_device_train_batch_size=8,
                                                save_strategy="no", disable_tqdm=True, learning_rate=1e-3)
    trainer = SentenceTransformerTrainer(model, args, train_dataset={"anchor": anchors, "positive": positives},
                                         loss=MultipleNegativesRankingLoss(model))
    trainer.train()
    after = model.state_dict()
    assert trainer.state.global_step == 1 and all(torch.isfinite(v).all() for v in after.values())
    for key in keys:
        assert not torch.equal(before[key], after[key]), key
