"""CrossEncoders on a causal language model ([Transformer(transformer_task="text-generation"), LogitScore]) give
sentence-transformers 6.2's token ids and scores (goldens from ``tests/generate_causal_reranker_fixtures.py``):
a plain ``*ForCausalLM`` folder with ``yes`` / ``no`` tokens, with and without a chat template, truncated, and a module
stack on each of the five decoder families."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from embedkit import CrossEncoder
from embedkit.base.modules import Transformer
from embedkit.cross_encoder.modules import LogitScore
from tests.chat_template_cases import FIXTURES, PAIRS
from tests.generate_causal_reranker_fixtures import (
    FALSE_ID,
    RAW_CASES,
    SOFTCAP,
    STACK_FAMILIES,
    TRUE_ID,
    ce_kwargs,
)

GOLDEN = json.loads((FIXTURES / "causal_reranker_golden.json").read_text(encoding="utf-8"))
READER = FIXTURES / "qwen3_reranker_lm"


def check_against_golden(model: CrossEncoder, expected: dict, predict_kwargs: dict) -> None:
    prompt = model.prompts.get(model.default_prompt_name) if model.default_prompt_name else None
    features = model.preprocess(list(PAIRS), prompt=prompt, **predict_kwargs)
    assert features["input_ids"].tolist() == expected["input_ids"]
    assert features["attention_mask"].tolist() == expected["attention_mask"]
    scores = model.predict(list(PAIRS), convert_to_numpy=True, **predict_kwargs)
    np.testing.assert_allclose(scores, expected["scores"], atol=1e-5)


@pytest.mark.parametrize("name", sorted(RAW_CASES))
def test_plain_causal_lm_folder_matches_sentence_transformers(name):
    kwargs, predict_kwargs = RAW_CASES[name]
    model = CrossEncoder(str(READER), device="cpu", **ce_kwargs(kwargs))
    assert [type(m).__name__ for m in model] == ["CausalLMTransformer", "LogitScore"]
    tokenizer = model.tokenizer
    assert (model[1].true_token_id, model[1].false_token_id) == (tokenizer.backend.token_to_id("yes"),
                                                                   tokenizer.backend.token_to_id("no"))
    assert model.num_labels == 1 and model.config.model_type == "qwen3"
    check_against_golden(model, GOLDEN[name], predict_kwargs)


@pytest.mark.parametrize("family", STACK_FAMILIES)
def test_module_stack_matches_sentence_transformers(family, tmp_path):
    folder = FIXTURES / f"{family}_causal_lm"
    if family == "gemma3":  # the soft cap bounds the logits
        folder = shutil.copytree(folder, tmp_path / "gemma3")
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "final_logit_softcapping": SOFTCAP}))
    transformer = Transformer(str(folder), transformer_task="text-generation")
    model = CrossEncoder(modules=[transformer, LogitScore(TRUE_ID, FALSE_ID)], activation_fn=torch.nn.Identity(),
                         device="cpu")
    check_against_golden(model, GOLDEN[f"stack_{family}"], {})
    if family == "gemma3":  # the cap is what makes the difference: without it, the logits exceed it
        with torch.no_grad():
            features = transformer.preprocess(list(PAIRS))
            capped = transformer(features)["causal_logits"]
            transformer.auto_model.softcap = None
            plain = transformer(features)["causal_logits"]
        assert float(capped.abs().max()) < SOFTCAP < float(plain.abs().max())
        torch.testing.assert_close(capped, SOFTCAP * torch.tanh(plain / SOFTCAP))


def test_saved_folders_round_trip(tmp_path):
    kwargs, _ = RAW_CASES["raw_chat"]
    model = CrossEncoder(str(READER), device="cpu", **ce_kwargs(kwargs))
    model.save(tmp_path / "saved")
    modules = json.loads((tmp_path / "saved" / "modules.json").read_text())
    assert [m["type"] for m in modules] == ["sentence_transformers.base.modules.transformer.Transformer",
                                            "sentence_transformers.cross_encoder.modules.logit_score.LogitScore"]
    sbert = json.loads((tmp_path / "saved" / "sentence_bert_config.json").read_text())
    assert sbert["transformer_task"] == "text-generation" and sbert["module_output_name"] == "causal_logits"
    assert json.loads((tmp_path / "saved" / "1_LogitScore" / "config.json").read_text()) == {
        "true_token_id": model[1].true_token_id, "false_token_id": model[1].false_token_id,
        "module_input_name": "causal_logits"}
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert config["architectures"] == ["Qwen3ForCausalLM"] and config["tie_word_embeddings"] is True
    reloaded = CrossEncoder(str(tmp_path / "saved"), device="cpu", activation_fn=torch.nn.Identity())
    assert "message" in reloaded[0].modality_config  # the chat template travels with it
    np.testing.assert_array_equal(reloaded.predict(list(PAIRS)), model.predict(list(PAIRS)))


def test_logits_to_keep_and_left_padding():
    transformer = Transformer(str(READER), transformer_task="text-generation")
    assert transformer.tokenizer.padding_side == "left"
    features = transformer.preprocess(["short", "a much longer text than the first"],
                                      processing_kwargs={"text": {"logits_to_keep": 0}})
    every = transformer(features)["causal_logits"]
    last = transformer(transformer.preprocess(["short", "a much longer text than the first"]))["causal_logits"]
    assert every.shape[:2] == features["input_ids"].shape and last.shape[1] == 1
    torch.testing.assert_close(every[:, -1:], last)
    with pytest.raises(ValueError, match="logits_to_keep must be a non-negative integer"):
        transformer.preprocess(["x"], processing_kwargs={"text": {"logits_to_keep": -1}})
    transformer.tokenizer.padding_side = "right"
    with pytest.raises(ValueError, match="require left padding"):
        transformer.preprocess(["short", "a much longer text than the first"])


def test_plain_folder_without_yes_and_no_is_refused():
    with pytest.raises(ValueError, match="does not have 'yes' and/or 'no' tokens"):
        CrossEncoder(str(FIXTURES / "qwen3_causal_lm"), device="cpu")


def test_tied_head_is_the_embedding_and_strict_loading(tmp_path):
    transformer = Transformer(str(READER), transformer_task="text-generation")
    lm = transformer.auto_model
    assert lm.lm_head.weight is lm.encoder.embed.weight  # one tensor, not a copy
    folder = shutil.copytree(FIXTURES / "qwen3_causal_lm", tmp_path / "untied")
    from safetensors.torch import load_file, save_file

    state = load_file(folder / "model.safetensors")
    del state["lm_head.weight"]
    save_file(state, folder / "model.safetensors")
    with pytest.raises(ValueError, match="missing lm_head.weight"):
        Transformer(str(folder), transformer_task="text-generation")


def test_a_training_step_moves_the_decoder_and_keeps_the_head_tied(tmp_path):
    from embedkit.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from embedkit.cross_encoder.losses import BinaryCrossEntropyLoss

    model = CrossEncoder(str(READER), device="cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = {"query": ["what is a cat", "berlin"] * 4, "doc": ["a small animal", "a city"] * 4,
            "label": [1.0, 0.0] * 4}
    args = CrossEncoderTrainingArguments(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=4,
                                         save_strategy="no", disable_tqdm=True, learning_rate=1e-3)
    CrossEncoderTrainer(model=model, args=args, train_dataset=data, loss=BinaryCrossEntropyLoss(model)).train()
    after = model.state_dict()
    for key in ("pipeline.0.auto_model.encoder.layers.0.attn.q.weight",
                "pipeline.0.auto_model.encoder.final_norm.weight", "pipeline.0.auto_model.encoder.embed.weight"):
        assert not torch.equal(before[key], after[key]), key
    lm = model[0].auto_model
    assert lm.lm_head.weight is lm.encoder.embed.weight
    model.save(tmp_path / "trained")
    reloaded = CrossEncoder(str(tmp_path / "trained"), device="cpu")
    np.testing.assert_array_equal(reloaded.predict(list(PAIRS)), model.predict(list(PAIRS)))


@pytest.mark.parametrize("model_type,tied,softcap", [("gemma2", True, 30.0), ("gemma3_text", True, None),
                                                     ("qwen3", False, None), ("llama", False, None)])
def test_head_tying_and_final_soft_cap_default_as_transformers(model_type, tied, softcap):
    """A config.json without ``tie_word_embeddings`` / ``final_logit_softcapping`` gets the family's defaults."""
    from embedkit.encoders.causal_lm import CausalLM
    from embedkit.encoders.config import EncoderConfig

    hf = {"model_type": model_type, "architectures": ["X"], "vocab_size": 50, "hidden_size": 16,
          "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8,
          "intermediate_size": 24}
    model = CausalLM(EncoderConfig.from_hf_config(hf), tied=False)
    assert model.softcap == softcap
    state = {key: value for key, value in model.hf_state_dict().items()}
    if tied:
        del state["lm_head.weight"]  # a tied checkpoint stores the embedding only
    loaded = CausalLM.from_hf_state_dict(hf, state)
    assert loaded.tied is tied and (loaded.lm_head.weight is loaded.encoder.embed.weight) is tied
