"""Checks every encoder family's tests run on their own fixtures: the engine's fallback to the reference layers, one
training step that moves the named weights, strict loading of an edited checkpoint, and saving then reloading a
fixture folder."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from embedkit import CrossEncoder, SentenceTransformer
from tests.conftest import FIXTURES

# One fixture per encoder family (SentenceTransformer), CrossEncoder family and SPLADE family.
FAMILY_FOLDERS = ["tiny_bert_v6", "tiny_mpnet_v6", "roberta_st", "xlmr_st", "camembert_st", "distilbert_st",
                  "electra_st", "albert_st", "deberta1_st", "deberta_st", "nomic_st", "gte_st", "eurobert_st",
                  "modernbert_st", "t5_st", "mt5_encoder", "umt5_encoder", "qwen3_st", "gemma3_st", "gemma2_st",
                  "llama_st", "mistral_st", "qwen2_st"]
CE_FOLDERS = ["ce_bert3", "ce_mpnet1", "roberta_ce1", "xlmr_ce1", "camembert_ce1", "distilbert_ce1", "electra_ce1",
              "albert_ce3", "deberta1_ce1", "deberta_ce1", "gte_ce", "eurobert_ce_mean", "modernbert_ce_cls",
              "qwen3_ce", "gemma3_ce", "gemma2_ce", "llama_ce", "mistral_ce", "qwen2_ce"]
SPARSE_FOLDERS = ["se_bert_v6", "se_mpnet_v6", "roberta_se", "xlmr_se", "camembert_se", "distilbert_se",
                  "modernbert_se"]


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


def ce_golden_pairs() -> list[tuple[str, str]]:
    """The pairs the CrossEncoder fixtures were scored on by sentence-transformers (``CE_PAIRS``, in ce_golden.json)."""
    return [tuple(p) for p in json.loads((FIXTURES / "ce_golden.json").read_text())["pairs"]]


def check_save_then_reload(name: str, tmp_path: Path, texts: list[str], *, cross_encoder: bool = False,
                           encoder_prefix: str = "", head_prefixes: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Save the fixture folder ``name`` with embedkit and load the copy: the outputs are identical and the weights
    keep the fixture's names, except that a bi-encoder loaded from a ``*For*`` checkpoint saves its encoder alone,
    as sentence-transformers does (``encoder_prefix`` stripped, weights under ``head_prefixes`` left out). Returns
    the saved and the fixture's config.json."""
    cls = CrossEncoder if cross_encoder else SentenceTransformer
    model = cls(str(FIXTURES / name), device="cpu")
    model.save(str(tmp_path / "saved"))
    again = cls(str(tmp_path / "saved"), device="cpu")
    run = (lambda m: m.predict(ce_golden_pairs())) if cross_encoder else (lambda m: m.encode(texts))
    np.testing.assert_array_equal(run(model), run(again))
    saved = set(load_file(tmp_path / "saved" / "model.safetensors"))
    original = set(load_file(FIXTURES / name / "model.safetensors"))
    assert saved == {k.removeprefix(encoder_prefix) for k in original if not k.startswith(head_prefixes)}
    return (json.loads((tmp_path / "saved" / "config.json").read_text()),
            json.loads((FIXTURES / name / "config.json").read_text()))


def check_matches_bi_encoder_goldens(st: SentenceTransformer, g: dict[str, np.ndarray], texts: list[str]) -> None:
    """``st`` gives what tests/generator_tools.py's ``bi_encoder_goldens`` recorded from sentence-transformers, within
    2e-5: embeddings batched by 3 and one text at a time, the first five texts' token embeddings and every layer's
    output for the first four (at real tokens)."""
    assert np.abs(st.encode(texts, batch_size=3) - g["emb"]).max() <= 2e-5
    assert np.abs(np.stack([st.encode([t])[0] for t in texts]) - g["emb_alone"]).max() <= 2e-5
    mask = g["attention_mask"].astype(bool)
    for i, tokens in enumerate(st.encode(texts[:5], output_value="token_embeddings")):
        real = mask[i][:len(tokens)]
        assert np.abs(tokens.numpy()[real] - g[f"token_embeddings_{i}"][real]).max() <= 2e-5
    ids, attention = torch.from_numpy(g["input_ids"][:4]), torch.from_numpy(g["attention_mask"][:4])
    with torch.no_grad():
        hidden = torch.stack(st[0].auto_model(ids, attention, output_hidden_states=True).hidden_states)
    real = attention.bool()
    assert hidden.shape == g["hidden_states"].shape
    assert (hidden[:, real] - torch.from_numpy(g["hidden_states"])[:, real]).abs().max() <= 2e-5


def check_strict_loading(folder: Path, edit: Callable[[dict[str, torch.Tensor]], object], message: str,
                         copy: Path) -> None:
    """A copy (at ``copy``) of the SentenceTransformer ``folder`` whose model.safetensors ``edit`` changed (a key
    added or removed) fails to load with a ValueError matching ``message`` (the offending key's name)."""
    shutil.copytree(folder, copy)
    state = load_file(copy / "model.safetensors")
    edit(state)
    save_file(state, copy / "model.safetensors")
    with pytest.raises(ValueError, match=message):
        SentenceTransformer(str(copy), device="cpu")
