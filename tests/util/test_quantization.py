"""Tests for embedkit.util.quantization: golden values from sentence-transformers plus hand-computed cases."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from embedkit.util import quantize_embeddings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "util" / "quantization.npz"
INT_PRECISIONS = ("int8", "uint8", "binary", "ubinary")
DTYPES = {"int8": np.int8, "uint8": np.uint8, "binary": np.int8, "ubinary": np.uint8, "float32": np.float32}


@pytest.fixture(scope="module")
def gold() -> dict[str, np.ndarray]:
    with np.load(FIXTURES) as data:
        return {key: data[key] for key in data.files}


def assert_same(actual: object, expected: np.ndarray) -> None:
    assert isinstance(actual, np.ndarray)
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)


# --- golden values (sentence-transformers 6.2) -------------------------------------------------


@pytest.mark.parametrize("precision", INT_PRECISIONS)
def test_quantize_golden(gold: dict[str, np.ndarray], precision: str) -> None:
    emb, small, calib, ranges = gold["emb"], gold["small"], gold["calib"], gold["ranges"]
    assert_same(quantize_embeddings(emb, precision), gold[f"{precision}/self"])
    assert_same(quantize_embeddings(torch.from_numpy(emb), precision), gold[f"{precision}/self"])
    assert_same(quantize_embeddings(small, precision), gold[f"{precision}/small"])
    assert_same(quantize_embeddings(emb, precision, calibration_embeddings=calib), gold[f"{precision}/calib"])
    assert_same(quantize_embeddings(emb, precision, ranges=ranges), gold[f"{precision}/ranges"])
    assert_same(quantize_embeddings(gold["vec"], precision, ranges=ranges), gold[f"{precision}/vec_ranges"])
    assert_same(quantize_embeddings(torch.from_numpy(emb).half(), precision), gold[f"{precision}/fp16"])
    assert_same(quantize_embeddings(torch.from_numpy(emb).bfloat16(), precision), gold[f"{precision}/bf16"])
    assert_same(quantize_embeddings(emb.astype(np.float64), precision), gold[f"{precision}/fp64"])
    assert_same(quantize_embeddings(list(small), precision), gold[f"{precision}/rows"])


@pytest.mark.parametrize("precision", INT_PRECISIONS)
def test_quantize_list_of_matrices_golden(gold: dict[str, np.ndarray], precision: str) -> None:
    docs = [gold[f"doc{i}"] for i in range(4)]
    out = quantize_embeddings(docs, precision)
    assert isinstance(out, list) and len(out) == 4
    for i, q in enumerate(out):
        assert_same(q, gold[f"{precision}/docs{i}"])
    out = quantize_embeddings([torch.from_numpy(d) for d in docs], precision, calibration_embeddings=gold["calib"])
    for i, q in enumerate(out):
        assert_same(q, gold[f"{precision}/docs_calib{i}"])


def test_quantize_float32_golden(gold: dict[str, np.ndarray]) -> None:
    assert_same(quantize_embeddings(gold["small"], "float32"), gold["float32/small"])
    assert_same(quantize_embeddings(list(gold["small"]), "float32"), gold["float32/rows"])
    bf16 = torch.from_numpy(gold["small"]).bfloat16()
    assert_same(quantize_embeddings(bf16, "float32"), gold["float32/bf16_small"])
    half = torch.from_numpy(gold["emb"]).half()
    assert_same(quantize_embeddings(half, "float32"), half.float().numpy())


# --- hand-computed cases ------------------------------------------------------------------------


def test_binary_hand_values() -> None:
    # 10 dims -> 2 bytes; bits are MSB first, the last 6 bits of byte 2 are zero padding; 0.0 is not > 0
    emb = np.array([[1.0, -1.0, 0.5, 0.0, 2.0, -3.0, -0.1, 7.0, 1.0, 1.0]])
    byte0, byte1 = 0b10101001, 0b11000000
    assert_same(quantize_embeddings(emb, "ubinary"), np.array([[byte0, byte1]], dtype=np.uint8))
    assert_same(quantize_embeddings(emb, "binary"), np.array([[byte0 - 128, byte1 - 128]], dtype=np.int8))
    assert_same(quantize_embeddings(emb[0], "ubinary"), np.array([byte0, byte1], dtype=np.uint8))
    assert_same(quantize_embeddings(-np.ones((1, 8)), "binary"), np.array([[-128]], dtype=np.int8))


def test_scalar_hand_values() -> None:
    # dim 0: range [0, 255] -> step 1; dim 1: zero-width range -> step 1 from its min
    ranges = np.array([[0.0, 2.0], [255.0, 2.0]])
    emb = np.array([[0.0, 2.0], [10.7, 3.5], [-5.0, 300.0], [300.0, 1.0]])
    expected = np.array([[0, 0], [10, 1], [0, 255], [255, 0]])
    assert_same(quantize_embeddings(emb, "uint8", ranges=ranges), expected.astype(np.uint8))
    assert_same(quantize_embeddings(emb, "int8", ranges=ranges), (expected - 128).astype(np.int8))
    assert_same(quantize_embeddings(torch.tensor(emb), "uint8", ranges=torch.tensor(ranges)), expected.astype(np.uint8))


def test_scalar_calibration_sources(caplog: pytest.LogCaptureFixture) -> None:
    emb = np.array([[0.0, 1.0], [1.0, 1.0], [0.5, 1.0]])
    with caplog.at_level(logging.WARNING):
        out = quantize_embeddings(emb, "uint8")
    assert "3 embeddings" in caplog.text
    # ranges [0, 1] and [1, 1]: (1 - 0) / (1 / 255) rounds to just under 255 in float32
    assert_same(out, np.array([[0, 0], [254, 0], [127, 0]], dtype=np.uint8))
    calib = np.array([[0.0, 0.0], [2.0, 2.0]])
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        out = quantize_embeddings(emb, "uint8", calibration_embeddings=calib)
    assert caplog.text == ""
    assert_same(out, np.array([[0, 127], [127, 127], [63, 127]], dtype=np.uint8))


def test_scalar_single_embedding_needs_ranges() -> None:
    with pytest.raises(ValueError, match="single embedding"):
        quantize_embeddings(np.ones((1, 4)), "int8")
    with pytest.raises(ValueError, match="single embedding"):
        quantize_embeddings(np.ones(4), "uint8")
    out = quantize_embeddings(np.ones(4), "uint8", calibration_embeddings=np.array([[0.0] * 4, [2.0] * 4]))
    assert_same(out, np.full(4, 127, dtype=np.uint8))
    # binary precisions need no calibration
    assert_same(quantize_embeddings(np.ones((1, 4)), "ubinary"), np.array([[0b11110000]], dtype=np.uint8))


def test_empty_inputs() -> None:
    assert quantize_embeddings([], "int8") == []
    for precision, width in [("int8", 12), ("uint8", 12), ("binary", 2), ("ubinary", 2)]:
        out = quantize_embeddings(np.zeros((0, 12), dtype=np.float32), precision)
        assert isinstance(out, np.ndarray)
        assert out.shape == (0, width) and out.dtype == DTYPES[precision]
    assert quantize_embeddings(np.zeros((0, 12)), "float32").shape == (0, 12)


def test_list_of_matrices_shares_ranges() -> None:
    docs = [np.array([[0.0], [100.5]]), np.array([[255.0]])]
    out = quantize_embeddings(docs, "uint8")
    assert isinstance(out, list)
    # ranges shared over both docs: [0, 255], step 1 (the one-row doc alone could not be calibrated)
    assert [q.tolist() for q in out] == [[[0], [100]], [[255]]]


def test_float32_precision_casts() -> None:
    out = quantize_embeddings(torch.tensor([[1.5, -2.0]], dtype=torch.float64), "float32")
    assert_same(out, np.array([[1.5, -2.0]], dtype=np.float32))


@pytest.mark.parametrize("bad", ["int4", "float16", "INT8", "bits"])
def test_unknown_precision(bad: str) -> None:
    with pytest.raises(ValueError, match=r"valid: \['float32', 'int8', 'uint8', 'binary', 'ubinary'\]"):
        quantize_embeddings(np.ones((3, 4)), bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_integer_embeddings_rejected(dtype: type) -> None:
    with pytest.raises(ValueError, match="must be floats"):
        quantize_embeddings(np.ones((3, 4), dtype=dtype), "int8")
