"""SparseEncoder parity with sentence-transformers 6.2 goldens (tests/generate_sparse_fixtures.py), folder formats,
and the bounded-memory SPLADE pooling."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from embedkit.base.modules import Transformer
from embedkit.base.modules.module import read_json_file
from embedkit.encoders.mlm_heads import MLMLogits
from embedkit.module_types import MODULE_TYPES, SAVED_TYPE
from embedkit.sparse_encoder import SparseEncoder
from embedkit.sparse_encoder.model import select_max_active_dims
from embedkit.sparse_encoder.modules import MLMTransformer, SparseStaticEmbedding, SpladePooling

FIX = Path(__file__).parent.parent / "fixtures"
META = json.loads((FIX / "se_golden.json").read_text(encoding="utf-8"))
with np.load(FIX / "se_golden.npz") as _data:
    GOLD = {k: _data[k] for k in _data.files}
TEXTS = META["texts"]
COMBOS = [tuple(c) for c in META["combos"]]
ATOL = 1e-4
FOLDERS = {"bert": "se_bert_v6", "mpnet": "se_mpnet_v6"}


def dense(x: torch.Tensor) -> np.ndarray:
    return (x.to_dense() if x.is_sparse else x).float().cpu().numpy()


def assert_splade_equal(got: np.ndarray, expected: np.ndarray, atol: float = ATOL, rtol: float = 0.0) -> None:
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=atol, rtol=rtol)
    np.testing.assert_array_equal(got != 0, expected != 0)  # the same non-zero support


@pytest.fixture(scope="module", params=["bert", "mpnet"])
def model(request):
    return request.param, SparseEncoder(FIX / FOLDERS[request.param], device="cpu")


def rows(emb: torch.Tensor, start: int, end: int) -> torch.Tensor:
    return emb.index_select(0, torch.arange(start, end))


# ---------------------------------------------------------------- parity with sentence-transformers
def test_encode_matches_st(model):
    name, se = model
    emb = se.encode(TEXTS, batch_size=3)
    assert emb.is_sparse and emb.shape == (len(TEXTS), META[name]["dimension"])
    assert_splade_equal(dense(emb), GOLD[f"{name}/encode"])
    single = se.encode(TEXTS[0])
    assert single.is_sparse and single.shape == (META[name]["dimension"],)
    assert_splade_equal(dense(single), GOLD[f"{name}/single"])


@pytest.mark.parametrize("strategy,activation", COMBOS)
def test_pooling_variants_match_st(model, strategy, activation):
    name, se = model
    original = se[1]
    try:
        results = {}
        for chunk in (None, 5):
            se[1] = SpladePooling(strategy, activation, chunk_size=chunk)
            results[chunk] = dense(se.encode(TEXTS, batch_size=4))
            assert_splade_equal(results[chunk], GOLD[f"{name}/{strategy}_{activation}"])
        se[1] = SpladePooling(strategy, activation, chunk_size=16)
        se[1].max_block_elements = 4 * 16 * 300  # blocks of 16 tokens x 300 vocabulary entries
        results["tiny"] = dense(se.encode(TEXTS, batch_size=4))
        for other in (5, "tiny"):  # chunked == unchunked, up to the float summation order of sum pooling
            assert_splade_equal(results[other], results[None], atol=1e-6, rtol=1e-6)
    finally:
        se[1] = original


def test_query_document_and_prompts(model):
    name, se = model
    assert se.prompts == META[name]["prompts"]
    with_prompts = any(se.prompts.values())
    assert with_prompts == (name == "mpnet")
    assert_splade_equal(dense(se.encode_query(TEXTS)), GOLD[f"{name}/query" if with_prompts else f"{name}/encode"])
    assert_splade_equal(dense(se.encode_document(TEXTS)),
                        GOLD[f"{name}/document" if with_prompts else f"{name}/encode"])
    if with_prompts:
        assert_splade_equal(dense(se.encode(TEXTS, prompt_name="query")), GOLD[f"{name}/query"])
        assert not np.allclose(GOLD[f"{name}/query"], GOLD[f"{name}/encode"])


def test_max_active_dims(model):
    name, se = model
    got = dense(se.encode(TEXTS, max_active_dims=5))
    assert ((got != 0).sum(axis=1) <= 5).all()
    assert_splade_equal(got, GOLD[f"{name}/max_active_dims_5"])
    se.max_active_dims = 5
    try:
        assert_splade_equal(dense(se.encode(TEXTS)), GOLD[f"{name}/max_active_dims_5"])
    finally:
        se.max_active_dims = None
    with pytest.raises(ValueError, match="max_active_dims"):
        se.encode(TEXTS, max_active_dims=0)


def test_similarity_intersection_decode_sparsity(model):
    name, se = model
    meta = META[name]
    emb = se.encode(TEXTS, batch_size=3)
    assert se.similarity_fn_name == meta["similarity_fn_name"] == "dot"
    np.testing.assert_allclose(se.similarity(emb, emb).numpy(), GOLD[f"{name}/similarity"], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(se.similarity_pairwise(rows(emb, 0, 3), rows(emb, 3, 6)).numpy(),
                               GOLD[f"{name}/similarity_pairwise"], rtol=1e-5, atol=1e-3)
    inter1 = se.intersection(emb[0], emb[6])
    assert inter1.is_sparse and inter1.ndim == 1
    assert_splade_equal(dense(inter1), GOLD[f"{name}/intersection_1d"], rtol=1e-6)
    inter2 = se.intersection(emb[0], rows(emb, 3, 7))
    assert inter2.is_sparse and inter2.shape == (4, meta["dimension"])
    assert_splade_equal(dense(inter2), GOLD[f"{name}/intersection_2d"], rtol=1e-6)  # products of values up to ~30

    top5 = se.decode(rows(emb, 0, 3), top_k=5)
    for got_row, exp_row in zip(top5, meta["decode_top5"], strict=True):
        assert [t for t, _ in got_row] == [t for t, _ in exp_row]
        np.testing.assert_allclose([w for _, w in got_row], [w for _, w in exp_row], atol=ATOL)
    full = se.decode(emb[0])
    assert [t for t, _ in full] == [t for t, _ in meta["decode_full_0"]]
    assert se.decode(torch.zeros(meta["dimension"])) == []

    for key, value in se.sparsity(emb).items():
        assert value == pytest.approx(meta["sparsity"][key], abs=1e-6)
    for key, value in se.sparsity(emb[0]).items():
        assert value == pytest.approx(meta["sparsity_single"][key], abs=1e-6)
    assert se.sparsity(emb.to_dense()) == pytest.approx(se.sparsity(emb))
    assert se.get_embedding_dimension() == meta["dimension"]
    assert se.max_seq_length == meta["max_seq_length"]


def test_classic_v5_folder_loads():
    se = SparseEncoder(FIX / "se_bert_v5", device="cpu")
    assert isinstance(se[0], MLMTransformer) and isinstance(se[1], SpladePooling)
    assert_splade_equal(dense(se.encode(TEXTS)), GOLD["bert_v5/encode"])
    assert_splade_equal(dense(se.encode(TEXTS)), GOLD["bert/encode"])


def test_plain_masked_lm_checkpoint_gets_default_modules(tmp_path):
    folder = tmp_path / "hf"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(FIX / "se_bert_v6" / name, folder / name)
    se = SparseEncoder(folder, device="cpu")
    assert isinstance(se[0], MLMTransformer)
    assert (se[1].pooling_strategy, se[1].activation_function) == ("max", "relu")
    assert_splade_equal(dense(se.encode(TEXTS, batch_size=3)), GOLD["bert/encode"])


def test_v6_fill_mask_transformer_type_is_dispatched():
    assert MODULE_TYPES["sentence_transformers.base.modules.transformer.Transformer"] is Transformer
    module = Transformer.load(FIX / "se_bert_v6")  # sentence_bert_config.json says transformer_task: fill-mask
    assert isinstance(module, MLMTransformer)
    for type_name in ("sentence_transformers.sparse_encoder.models.MLMTransformer",
                      "sentence_transformers.sparse_encoder.modules.mlm_transformer.MLMTransformer"):
        assert MODULE_TYPES[type_name] is MLMTransformer
    assert MODULE_TYPES["sentence_transformers.sparse_encoder.modules.splade_pooling.SpladePooling"] is SpladePooling
    assert SAVED_TYPE[SparseStaticEmbedding] == "sentence_transformers.sparse_encoder.models.SparseStaticEmbedding"


# ---------------------------------------------------------------- SparseStaticEmbedding
def test_sparse_static_embedding_matches_st():
    se = SparseEncoder(FIX / "se_static", device="cpu")
    assert isinstance(se[0], SparseStaticEmbedding)
    assert se[0].frozen and not se[0].weight.requires_grad
    assert se.get_embedding_dimension() == META["static"]["dimension"]
    assert_splade_equal(dense(se.encode(TEXTS, batch_size=3)), GOLD["static/encode"], atol=1e-6)
    assert_splade_equal(dense(se.encode(TEXTS, prompt="query: ")), GOLD["static/query_prompt"], atol=1e-6)
    decoded = se.decode(se.encode(TEXTS[:2]), top_k=5)
    assert [[t for t, _ in row] for row in decoded] == [[t for t, _ in row] for row in META["static"]["decode_top5"]]


def test_sparse_static_embedding_trainable_and_from_json(tmp_path):
    idf = {"the": 2.5, "of": 1.5}
    (tmp_path / "idf.json").write_text(json.dumps(idf))
    module = SparseStaticEmbedding.from_json(tmp_path / "idf.json", FIX / "se_bert_v6")
    assert module.weight.requires_grad
    features = module.preprocess(["The capital of the country", "nothing"])
    out = module(features)["sentence_embedding"]
    assert sorted(out[0][out[0] != 0].tolist()) == [1.5, 2.5] and float(out[1].detach().sum()) == 0.0
    out[0].sum().backward()  # d/dw = token presence: 1 for each distinct token of the text
    distinct = set(features["input_ids"][0][features["attention_mask"][0] == 1].tolist())
    assert module.weight.grad.nonzero().flatten().tolist() == sorted(distinct)
    assert float(module.weight.grad.sum()) == len(distinct)


# ---------------------------------------------------------------- save / load
@pytest.mark.parametrize("name", ["se_bert_v6", "se_bert_v5", "se_mpnet_v6", "se_static"])
def test_save_load_round_trip(tmp_path, name):
    se = SparseEncoder(FIX / name, device="cpu", max_active_dims=700)
    expected = dense(se.encode(TEXTS, batch_size=4))
    se.save(tmp_path / "saved")
    config = read_json_file(tmp_path / "saved" / "config_sentence_transformers.json")
    assert config["model_type"] == "SparseEncoder"
    assert config["similarity_fn_name"] == "dot" and config["max_active_dims"] == 700
    modules = read_json_file(tmp_path / "saved" / "modules.json")
    assert all(m["type"].startswith("sentence_transformers.sparse_encoder.models.") for m in modules)
    if name != "se_static":
        assert read_json_file(tmp_path / "saved" / "sentence_bert_config.json") == {
            "max_seq_length": 128, "do_lower_case": False}
        pooling = read_json_file(tmp_path / "saved" / "1_SpladePooling" / "config.json")
        assert pooling["word_embedding_dimension"] == se.get_embedding_dimension()
        assert read_json_file(tmp_path / "saved" / "config.json")["architectures"][0].endswith("ForMaskedLM")
    loaded = SparseEncoder(tmp_path / "saved", device="cpu")
    assert loaded.max_active_dims == 700 and loaded.prompts == se.prompts
    np.testing.assert_array_equal(dense(loaded.encode(TEXTS, batch_size=4)), expected)


def test_converts_other_model_types_and_refuses_bad_checkpoints(tmp_path, caplog):
    from embedkit.sparse_encoder.modules.sparse_auto_encoder import SparseAutoEncoder

    # A CrossEncoder folder (as in sentence-transformers 6.x): this class's default modules on its transformer (a
    # non-MLM checkpoint, so CSR); the reranker's prompts and settings are not inherited.
    with caplog.at_level("WARNING"):
        converted = SparseEncoder(FIX / "ce_bert1", device="cpu")
    assert "Converting CrossEncoder model" in caplog.text
    assert [type(m).__name__ for m in converted] == ["Transformer", "Pooling", "SparseAutoEncoder"]
    assert isinstance(converted[-1], SparseAutoEncoder) and converted.max_active_dims == converted[-1].k == 256
    assert converted.similarity_fn_name == "dot" and converted.prompts == {"query": "", "document": ""}
    trusted = SparseEncoder(FIX / "se_bert_v6", device="cpu", trust_remote_code=True)  # accepted, no effect
    assert trusted.trust_remote_code and torch.equal(trusted.encode(["a cat"]).to_dense(),
                                                     SparseEncoder(FIX / "se_bert_v6", device="cpu").encode(
                                                         ["a cat"]).to_dense())
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "broken"
    shutil.copytree(FIX / "se_bert_v6", folder)
    state = load_file(str(FIX / "se_bert_v6" / "model.safetensors"))
    without_head = {k: v for k, v in state.items() if not k.startswith("cls.")}
    save_file(without_head, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match="no MLM head"):
        SparseEncoder(folder, device="cpu")
    missing = {k: v for k, v in state.items() if k != "cls.predictions.transform.dense.bias"}
    save_file(missing, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match="missing keys"):
        SparseEncoder(folder, device="cpu")
    save_file({**state, "cls.predictions.decoder.weight": state["bert.embeddings.word_embeddings.weight"] + 1},
              str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match="decoder weight differs"):
        SparseEncoder(folder, device="cpu")


# ---------------------------------------------------------------- encode options
def test_encode_output_options(model):
    name, se = model
    as_list = se.encode(TEXTS[:3], convert_to_tensor=False)
    assert isinstance(as_list, list) and len(as_list) == 3 and all(e.is_sparse for e in as_list)
    dense_out = se.encode(TEXTS[:3], convert_to_sparse_tensor=False, save_to_cpu=True)
    assert not dense_out.is_sparse and dense_out.device.type == "cpu"
    assert_splade_equal(dense_out.numpy(), GOLD[f"{name}/encode"][:3])
    empty = se.encode([])
    assert empty.is_sparse and empty.numel() == 0
    with pytest.raises(ValueError, match="batch_size"):
        se.encode(TEXTS, batch_size=0)
    with pytest.raises(ValueError, match="does not use"):
        se.encode(TEXTS, unknown_kwarg=1)
    with pytest.raises(TypeError, match="input 1"):
        se.encode(["ok", 3])
    se.encode(TEXTS[:2], task="query")  # task is always accepted
    assert se.splade_pooling_chunk_size is None
    se.splade_pooling_chunk_size = 7
    try:
        assert se[1].chunk_size == 7
        assert_splade_equal(dense(se.encode(TEXTS)), GOLD[f"{name}/encode"])
    finally:
        se.splade_pooling_chunk_size = None


def test_select_max_active_dims():
    x = torch.tensor([[0.5, -3.0, 2.0, 0.1], [1.0, 0.0, 0.0, 0.0]])
    assert select_max_active_dims(x, 2).tolist() == [[0.0, -3.0, 2.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    assert select_max_active_dims(x, None) is x
    assert select_max_active_dims(x, 10).tolist() == x.tolist()


# ---------------------------------------------------------------- bounded memory
class _RecordingLogits(MLMLogits):
    def __init__(self, *args):
        super().__init__(*args)
        self.blocks: list[int] = []

    def block(self, t0, t1, v0, v1):
        out = super().block(t0, t1, v0, v1)
        self.blocks.append(out.numel())
        return out

    def materialize(self):
        raise AssertionError("SpladePooling must not build the full logits tensor")


@pytest.mark.parametrize("chunk_size", [None, 3, 64])
def test_pooling_never_builds_full_logits(chunk_size):
    torch.manual_seed(0)
    B, T, D, V = 4, 50, 8, 3000
    hidden, weight, bias = torch.randn(B, T, D), torch.randn(V, D), torch.randn(V)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 20:] = 0
    pooling = SpladePooling("sum", "log1p_relu", chunk_size=chunk_size)
    pooling.max_block_elements = B * T * V // 8
    lazy = _RecordingLogits(hidden, weight, bias)
    with torch.inference_mode():
        got = pooling({"token_embeddings": lazy, "attention_mask": mask})["sentence_embedding"]
        full = SpladePooling("sum", "log1p_relu")({"token_embeddings": lazy.hidden @ weight.T + bias,
                                                  "attention_mask": mask})["sentence_embedding"]
    assert max(lazy.blocks) <= pooling.max_block_elements
    assert sum(lazy.blocks) == B * T * V  # every logit computed exactly once
    torch.testing.assert_close(got, full, atol=1e-5, rtol=1e-6)
    assert pooling.get_embedding_dimension() == V


def test_default_blocking_of_a_splade_batch_is_a_fraction_of_the_logits():
    from embedkit.sparse_encoder.modules.splade_pooling import DEFAULT_MAX_BLOCK_ELEMENTS, _block_sizes

    B, T, V = 32, 256, 30522
    t_block, v_block = _block_sizes(B, T, V, None, DEFAULT_MAX_BLOCK_ELEMENTS)
    assert B * t_block * v_block <= 0.25 * B * T * V
    t_block, v_block = _block_sizes(B, T, V, 32, DEFAULT_MAX_BLOCK_ELEMENTS)
    assert t_block == 32 and B * t_block * v_block <= 0.25 * B * T * V


def test_pooling_is_differentiable():
    logits = torch.randn(2, 5, 7, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    for strategy in ("max", "sum"):
        pooling = SpladePooling(strategy, "log1p_relu", chunk_size=2)
        pooling.max_block_elements = 8
        out = pooling({"token_embeddings": logits, "attention_mask": mask})["sentence_embedding"]
        out.sum().backward()
        assert logits.grad is not None and float(logits.grad[0, 3:].abs().sum()) == 0.0
        logits.grad = None


# ---------------------------------------------------------------- inference-free SPLADE (Router)
def test_inference_free_router_matches_st(tmp_path):
    se = SparseEncoder(FIX / "se_inference_free", device="cpu")
    assert se.get_embedding_dimension() == META["free"]["dimension"]
    assert se.max_seq_length == META["free"]["max_seq_length"]
    query, document = dense(se.encode_query(TEXTS)), dense(se.encode_document(TEXTS))
    assert_splade_equal(query, GOLD["free/query"], atol=1e-6)  # task="query" -> SparseStaticEmbedding
    assert_splade_equal(document, GOLD["free/document"])  # task="document" -> MLMTransformer + SpladePooling
    assert_splade_equal(dense(se.encode(TEXTS)), GOLD["free/encode"])  # default route: document
    se.save(tmp_path / "saved")
    loaded = SparseEncoder(tmp_path / "saved", device="cpu")
    np.testing.assert_array_equal(dense(loaded.encode_query(TEXTS)), query)
    np.testing.assert_array_equal(dense(loaded.encode_document(TEXTS)), document)


def test_csr_models_build_like_st_and_default_max_active_dims_to_k(tmp_path, caplog):
    from embedkit.sparse_encoder.modules.sparse_auto_encoder import SparseAutoEncoder

    with caplog.at_level("WARNING"):
        dense_based = SparseEncoder(str(FIX / "tiny_bert_v6"), device="cpu")  # a SentenceTransformer folder
    assert "Converting SentenceTransformer model" in caplog.text
    sae = dense_based[-1]
    assert isinstance(sae, SparseAutoEncoder) and (sae.input_dim, sae.hidden_dim, sae.k, sae.k_aux) == (16, 64, 4, 8)
    assert dense_based.max_active_dims == 4
    emb = dense_based.encode(["a first text", "and a second one"]).to_dense()
    assert emb.shape == (2, 64) and int((emb != 0).sum(dim=1).max()) <= 4

    shutil.copytree(FIX / "tiny_bert_hf", tmp_path / "plain")
    config = read_json_file(tmp_path / "plain" / "config.json")
    (tmp_path / "plain" / "config.json").write_text(json.dumps({**config, "architectures": ["BertModel"]}))
    plain = SparseEncoder(str(tmp_path / "plain"), device="cpu")  # a plain BertModel checkpoint
    assert [type(m).__name__ for m in plain] == ["Transformer", "Pooling", "SparseAutoEncoder"]
    assert (plain[-1].hidden_dim, plain[-1].k) == (4 * 32, 256)

    csr = SparseEncoder(str(FIX / "se_losses" / "csr_bert"), device="cpu")  # saved by ST 6.2
    assert csr.max_active_dims == csr[-1].k
    csr.save(str(tmp_path / "csr"))
    again = SparseEncoder(str(tmp_path / "csr"), device="cpu")
    torch.testing.assert_close(again.encode(["x y z"]).to_dense(), csr.encode(["x y z"]).to_dense())


# ---------------------------------------------------------------- sentence-transformers 6.x API details
def test_encode_takes_inputs_or_sentences_and_single_string_preprocess():
    se = SparseEncoder(FIX / "se_bert_v6", device="cpu")
    by_inputs = dense(se.encode(inputs=TEXTS[:2]))
    np.testing.assert_array_equal(dense(se.encode(sentences=TEXTS[:2])), by_inputs)
    np.testing.assert_array_equal(dense(se.encode_query(sentences=TEXTS[:2])), by_inputs)
    np.testing.assert_array_equal(dense(se.encode_document(inputs=TEXTS[:2])), by_inputs)
    # both names: inputs wins (sentence-transformers 6.x drops the deprecated one)
    np.testing.assert_array_equal(dense(se.encode(inputs=TEXTS[:1], sentences=TEXTS[1:2])), by_inputs[:1])
    # A single string is one text, not a batch of characters.
    assert se.preprocess(TEXTS[0])["input_ids"].shape == se.preprocess([TEXTS[0]])["input_ids"].shape
    assert se[0].auto_model.training is False  # dropout off after loading, as transformers leaves a model


def test_similarity_rules_and_multi_vector_names():
    se = SparseEncoder(FIX / "se_bert_v6", device="cpu")
    assert se.similarity_fn_name == "dot" and "maxsim" not in SparseEncoder.SUPPORTED_SIMILARITY_FN_NAMES
    with pytest.raises(ValueError, match="MultiVectorEncoder"):
        se.similarity_fn_name = "maxsim"
    se._similarity_fn_name = None
    se._parse_model_config({"similarity_fn_name": "maxsim"})  # a converted multi-vector save falls through
    assert se._similarity_fn_name is None and se.similarity_fn_name == "dot"


def test_converted_sentence_transformer_keeps_prompts_and_similarity(tmp_path):
    from embedkit import SentenceTransformer

    source = SentenceTransformer(str(FIX / "tiny_bert_v6"), device="cpu", prompts={"query": "q: "},
                                 similarity_fn_name="cosine")
    source.save(tmp_path / "dense")
    se = SparseEncoder(tmp_path / "dense", device="cpu")
    assert se.prompts["query"] == "q: " and se.similarity_fn_name == "cosine"


def test_csr_default_max_active_dims_follows_k_and_is_not_saved(tmp_path):
    se = SparseEncoder(str(FIX / "tiny_bert_v6"), device="cpu")
    assert se.max_active_dims == se[-1].k == 4
    se[-1].k = 2
    assert se.max_active_dims == 2
    se.save(tmp_path / "csr")
    assert "max_active_dims" not in read_json_file(tmp_path / "csr" / "config_sentence_transformers.json")
    assert SparseEncoder(tmp_path / "csr", device="cpu").max_active_dims == 2
    assert SparseEncoder(tmp_path / "csr", device="cpu", max_active_dims=3).max_active_dims == 3
    se.max_active_dims = 3  # an explicit value is saved
    se.save(tmp_path / "explicit")
    assert read_json_file(tmp_path / "explicit" / "config_sentence_transformers.json")["max_active_dims"] == 3


@pytest.mark.parametrize("strategy", ["max", "sum"])
@pytest.mark.parametrize("grad", [True, False])
def test_pooling_flattened_inputs_match_padded(strategy, grad):
    torch.manual_seed(0)
    lengths = [3, 7, 1]
    segments = [torch.randn(n, 11) for n in lengths]
    padded = torch.nn.utils.rnn.pad_sequence(segments, batch_first=True)
    mask = (torch.arange(max(lengths))[None] < torch.tensor(lengths)[:, None]).long()
    flat = torch.cat(segments)[None].requires_grad_(grad)
    before = flat.detach().clone()
    pooling = SpladePooling(strategy, "log1p_relu")
    with torch.set_grad_enabled(grad):
        want = pooling({"token_embeddings": padded, "attention_mask": mask})["sentence_embedding"]
        got = pooling({"token_embeddings": flat, "cu_seq_lens_q": torch.tensor([0, 3, 10, 11])})["sentence_embedding"]
    torch.testing.assert_close(got, want)
    assert torch.equal(flat.detach(), before)  # the caller's logits are not modified in place
    if grad:
        got.sum().backward()
        assert flat.grad is not None and flat.grad.shape == flat.shape


def test_st6_submodule_paths():
    from embedkit.base.data_collator import BaseDataCollator
    from embedkit.sparse_encoder.callbacks import SpladeRegularizerWeightSchedulerCallback
    from embedkit.sparse_encoder.callbacks.splade_callbacks import SpladeRegularizerWeightSchedulerCallback as same
    from embedkit.sparse_encoder.data_collator import SparseEncoderDataCollator

    assert issubclass(SparseEncoderDataCollator, BaseDataCollator) and same is SpladeRegularizerWeightSchedulerCallback
