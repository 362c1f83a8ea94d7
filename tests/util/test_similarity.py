"""Tests for embedkit.util.similarity: golden values from sentence-transformers plus hand-computed cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from embedkit import util
from embedkit.util import (
    SimilarityFunction,
    cos_sim,
    dot_score,
    euclidean_sim,
    manhattan_sim,
    maxsim,
    maxsim_pairwise,
    mean_maxsim,
    mean_maxsim_pairwise,
    normalize_embeddings,
    pairwise_angle_sim,
    pairwise_cos_sim,
    pairwise_dot_score,
    pairwise_euclidean_sim,
    pairwise_manhattan_sim,
    pytorch_cos_sim,
    truncate_embeddings,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "util" / "similarity.npz"
MATRIX_FNS = {
    "cos_sim": cos_sim,
    "dot_score": dot_score,
    "euclidean_sim": euclidean_sim,
    "manhattan_sim": manhattan_sim,
}
PAIRWISE_FNS = {
    "pairwise_cos_sim": pairwise_cos_sim,
    "pairwise_dot_score": pairwise_dot_score,
    "pairwise_euclidean_sim": pairwise_euclidean_sim,
    "pairwise_manhattan_sim": pairwise_manhattan_sim,
    "pairwise_angle_sim": pairwise_angle_sim,
}


@pytest.fixture(scope="module")
def gold() -> dict[str, np.ndarray]:
    with np.load(FIXTURES) as data:
        return {key: data[key] for key in data.files}


def assert_close(actual: torch.Tensor, expected: np.ndarray, atol: float = 1e-6) -> None:
    assert isinstance(actual, torch.Tensor)
    assert not actual.is_sparse
    assert tuple(actual.shape) == expected.shape
    np.testing.assert_allclose(actual.numpy(), expected, atol=atol, rtol=0)


# --- golden values (sentence-transformers 6.2) -------------------------------------------------


@pytest.mark.parametrize("name", MATRIX_FNS)
def test_matrix_fns_match_golden(gold: dict[str, np.ndarray], name: str) -> None:
    fn = MATRIX_FNS[name]
    a, b = gold["a"], gold["b"]
    assert_close(fn(a, b), gold[f"{name}/2d"])
    assert_close(fn(torch.from_numpy(a), torch.from_numpy(b)), gold[f"{name}/2d"])
    assert_close(fn(a.tolist(), b.tolist()), gold[f"{name}/2d"])
    assert_close(fn(list(torch.from_numpy(a)), list(b)), gold[f"{name}/2d"])
    assert_close(fn(gold["a1"], b), gold[f"{name}/1d"])


@pytest.mark.parametrize("name", MATRIX_FNS)
def test_matrix_fns_dtypes(gold: dict[str, np.ndarray], name: str) -> None:
    fn = MATRIX_FNS[name]
    out16 = fn(torch.from_numpy(gold["a16"]), torch.from_numpy(gold["b16"]))
    assert out16.dtype == torch.float32
    assert_close(out16, gold[f"{name}/fp16"])
    out16_np = fn(gold["a16"], gold["b16"])
    assert out16_np.dtype == torch.float32
    a, b = torch.from_numpy(gold["a"]), torch.from_numpy(gold["b"])
    outbf = fn(a.bfloat16(), b.bfloat16())
    assert outbf.dtype == torch.float32
    assert_close(outbf, gold[f"{name}/bf16"])
    out64 = fn(a.double(), b.double())
    assert out64.dtype == torch.float64
    assert_close(out64, gold[f"{name}/fp64"])


@pytest.mark.parametrize("name", MATRIX_FNS)
@pytest.mark.parametrize("layout", ["sparse", "sparse_dense", "dense_sparse"])
def test_matrix_fns_sparse_match_golden(gold: dict[str, np.ndarray], name: str, layout: str) -> None:
    a, b = torch.from_numpy(gold["sa"]), torch.from_numpy(gold["sb"])
    if layout in ("sparse", "sparse_dense"):
        a = a.to_sparse()
    if layout in ("sparse", "dense_sparse"):
        b = b.to_sparse()
    assert_close(MATRIX_FNS[name](a, b), gold[f"{name}/{layout}"], atol=1e-5)


def test_cos_sim_list_of_sparse_rows(gold: dict[str, np.ndarray]) -> None:
    rows = [row.to_sparse() for row in torch.from_numpy(gold["sa"])]
    assert_close(cos_sim(rows, torch.from_numpy(gold["sb"]).to_sparse()), gold["cos_sim/sparse"])


@pytest.mark.parametrize("name", PAIRWISE_FNS)
def test_pairwise_fns_match_golden(gold: dict[str, np.ndarray], name: str) -> None:
    fn = PAIRWISE_FNS[name]
    pa, pb = gold["pa"], gold["pb"]
    assert_close(fn(pa, pb), gold[f"{name}/2d"])
    assert_close(fn(pa.tolist(), torch.from_numpy(pb)), gold[f"{name}/2d"])
    assert_close(fn(gold["pa_odd"], gold["pb_odd"]), gold[f"{name}/odd"])
    out16 = fn(torch.from_numpy(pa).half(), torch.from_numpy(pb).half())
    assert out16.dtype == torch.float32
    assert_close(out16, gold[f"{name}/fp16"])
    if name != "pairwise_angle_sim":
        assert_close(fn(pa[0], pb[0]), gold[f"{name}/1d"])


def test_normalize_and_truncate_match_golden(gold: dict[str, np.ndarray]) -> None:
    sa = torch.from_numpy(gold["sa"])
    assert_close(normalize_embeddings(sa), gold["normalize/dense"])
    sparse = normalize_embeddings(sa.to_sparse())
    assert sparse.is_sparse
    assert_close(sparse.to_dense(), gold["normalize/sparse"])
    np.testing.assert_array_equal(truncate_embeddings(gold["a"], 5), gold["truncate/np"])


# --- hand-computed cases ------------------------------------------------------------------------


def test_cos_sim_hand_values() -> None:
    out = cos_sim([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], [[2.0, 0.0], [0.0, -3.0]])
    expected = [[1.0, 0.0], [math.sqrt(0.5), -math.sqrt(0.5)], [0.0, 0.0]]
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-7)
    assert pytorch_cos_sim is not None and torch.equal(
        pytorch_cos_sim([1.0, 1.0], [[1.0, 0.0]]), cos_sim([1.0, 1.0], [[1.0, 0.0]])
    )


def test_dot_euclidean_manhattan_hand_values() -> None:
    a = [[0.0, 0.0], [1.0, 2.0]]
    b = [[3.0, 4.0], [1.0, 2.0], [-1.0, 0.0]]
    np.testing.assert_allclose(dot_score(a, b).numpy(), [[0, 0, 0], [11, 5, -1]])
    np.testing.assert_allclose(
        euclidean_sim(a, b).numpy(), [[-5, -math.sqrt(5), -1], [-math.sqrt(8), 0, -math.sqrt(8)]], atol=1e-6
    )
    np.testing.assert_allclose(manhattan_sim(a, b).numpy(), [[-7, -3, -1], [-4, 0, -4]], atol=1e-6)
    assert euclidean_sim(a, b).shape == (2, 3)
    assert dot_score([1.0, 2.0], [3.0, 4.0]).shape == (1, 1)


def test_pairwise_hand_values() -> None:
    a = [[1.0, 0.0], [3.0, 4.0]]
    b = [[0.0, 2.0], [3.0, 4.0]]
    np.testing.assert_allclose(pairwise_cos_sim(a, b).numpy(), [0.0, 1.0], atol=1e-7)
    np.testing.assert_allclose(pairwise_dot_score(a, b).numpy(), [0.0, 25.0])
    np.testing.assert_allclose(pairwise_euclidean_sim(a, b).numpy(), [-math.sqrt(5), 0.0], atol=1e-6)
    np.testing.assert_allclose(pairwise_manhattan_sim(a, b).numpy(), [-3.0, 0.0])
    assert pairwise_dot_score([1.0, 2.0], [3.0, 4.0]).shape == ()


def test_pairwise_angle_sim_hand_values() -> None:
    # Rows read as complex numbers re + i*im after normalization; score = |cos + sin| with
    # cos = x . y and sin = x_im * y_re - x_re * y_im.
    x = [[1.0, 0.0], [1.0, 0.0], [2.0, 0.0], [1.0, 1.0]]
    y = [[0.0, 1.0], [1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]]
    # (1) cos 0, sin -1; (2) cos 1, sin 0; (3) cos -1, sin 0; (4) cos sqrt(.5), sin sqrt(.5)
    expected = [1.0, 1.0, 1.0, math.sqrt(2.0)]
    np.testing.assert_allclose(pairwise_angle_sim(x, y).numpy(), expected, atol=1e-6)
    # odd dimension: padded with a zero
    np.testing.assert_allclose(pairwise_angle_sim([[0.0, 0.0, 1.0]], [[0.0, 0.0, 1.0]]).numpy(), [1.0], atol=1e-7)


def test_normalize_embeddings_zero_rows() -> None:
    dense = normalize_embeddings(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(dense.numpy(), [[0.6, 0.8], [0.0, 0.0]], atol=1e-7)
    sparse = normalize_embeddings(torch.tensor([[0.0, 0.0, 2.0], [0.0, 0.0, 0.0], [1.0, 0.0, -1.0]]).to_sparse())
    assert sparse.is_sparse
    r = math.sqrt(0.5)
    np.testing.assert_allclose(sparse.to_dense().numpy(), [[0, 0, 1], [0, 0, 0], [r, 0, -r]], atol=1e-7)
    one = normalize_embeddings(torch.tensor([0.0, 3.0, 4.0]).to_sparse())
    np.testing.assert_allclose(one.to_dense().numpy(), [0.0, 0.6, 0.8], atol=1e-7)


def test_truncate_embeddings_no_renorm() -> None:
    t = torch.tensor([[3.0, 4.0, 12.0]])
    assert torch.equal(truncate_embeddings(t, 2), torch.tensor([[3.0, 4.0]]))
    assert truncate_embeddings(np.ones(5), 3).shape == (3,)
    assert truncate_embeddings(t, None) is not None and truncate_embeddings(t, None).shape == (1, 3)


def test_inputs_not_modified() -> None:
    a = np.array([[3.0, 4.0]], dtype=np.float32)
    cos_sim(a, a)
    pairwise_cos_sim(a, a)
    np.testing.assert_array_equal(a, [[3.0, 4.0]])


# --- SimilarityFunction -------------------------------------------------------------------------


def test_similarity_function_enum() -> None:
    assert SimilarityFunction.possible_values() == ["cosine", "dot", "euclidean", "manhattan", "maxsim", "meanmaxsim"]
    assert SimilarityFunction.DOT is SimilarityFunction.DOT_PRODUCT
    assert SimilarityFunction("dot") is SimilarityFunction.DOT_PRODUCT
    assert SimilarityFunction.COSINE == "cosine"
    assert SimilarityFunction.COSINE.value == "cosine"
    expected = {"cosine": cos_sim, "dot": dot_score, "euclidean": euclidean_sim, "manhattan": manhattan_sim,
                "maxsim": maxsim, "meanmaxsim": mean_maxsim}
    for name, fn in expected.items():
        assert SimilarityFunction.to_similarity_fn(name) is fn
        assert SimilarityFunction.to_similarity_fn(SimilarityFunction(name)) is fn
    pairwise = {
        "cosine": pairwise_cos_sim,
        "dot": pairwise_dot_score,
        "euclidean": pairwise_euclidean_sim,
        "manhattan": pairwise_manhattan_sim,
        "maxsim": maxsim_pairwise,
        "meanmaxsim": mean_maxsim_pairwise,
    }
    for name, fn in pairwise.items():
        assert SimilarityFunction.to_similarity_pairwise_fn(name) is fn


@pytest.mark.parametrize("bad", ["cos", "COSINE", "dot_product", ""])
def test_similarity_function_unknown_name(bad: str) -> None:
    valid = "valid: \\['cosine', 'dot', 'euclidean', 'manhattan', 'maxsim', 'meanmaxsim'\\]"
    with pytest.raises(ValueError, match=valid):
        SimilarityFunction.to_similarity_fn(bad)
    with pytest.raises(ValueError, match=repr(bad)):
        SimilarityFunction.to_similarity_pairwise_fn(bad)


def test_public_api() -> None:
    # sentence-transformers 6.2's util names (all but SciPy's to_scipy_coo), each served lazily by its submodule.
    expected = {
        "LoggingHandler", "ORIGINAL_TRANSFORMER_MODELS", "SimilarityFunction", "all_gather", "all_gather_padded",
        "all_gather_with_grad", "append_to_last_row", "batch_to_device", "check_package_availability",
        "check_teacher_targets", "check_version_requirements", "community_detection", "cos_sim",
        "disable_datasets_caching", "disable_logging", "disabled_tqdm", "dot_score", "euclidean_sim", "fullname",
        "get_device_name", "get_rank", "get_world_size", "http_get", "import_from_string", "import_module_class",
        "information_retrieval", "install_logger", "is_accelerate_available", "is_datasets_available",
        "is_dist_initialized", "is_sentence_transformer_model", "is_training_available", "load_dir_path",
        "load_file_path", "manhattan_sim", "maxsim", "maxsim_pairwise", "mean_maxsim", "mean_maxsim_pairwise",
        "mine_hard_negatives", "normalize_embeddings", "pairwise_angle_sim", "pairwise_cos_sim", "pairwise_dot_score",
        "pairwise_euclidean_sim", "pairwise_manhattan_sim", "paraphrase_mining", "paraphrase_mining_embeddings",
        "pytorch_cos_sim", "quantize_embeddings", "resolve_ids", "save_to_hub_args_decorator", "select_max_active_dims",
        "semantic_search", "semantic_search_faiss", "semantic_search_usearch", "similarity_fct_name",
        "truncate_embeddings", "_convert_to_batch", "_convert_to_batch_tensor", "_convert_to_tensor",
        "_move_tensors_to_cpu", "cat_padded_token_embeddings", "compute_count_vector", "repad_flattened_features",
        "stack_padded_token_embeddings",
    }  # fmt: skip
    assert set(util.__all__) == expected
    assert all(hasattr(util, name) for name in expected)


def test_docstring_examples() -> None:
    import doctest

    import embedkit.util.quantization
    import embedkit.util.retrieval
    import embedkit.util.similarity

    for module in (embedkit.util.similarity, embedkit.util.retrieval, embedkit.util.quantization):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__
        assert result.attempted > 0
