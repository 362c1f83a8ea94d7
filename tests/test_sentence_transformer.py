"""SentenceTransformer parity with sentence-transformers 6.x on committed tiny checkpoints (ST's own outputs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedkit import SentenceTransformer
from embedkit.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer
from tests.conftest import FIXTURES, golden

ATOL = 2e-6
POOLING_MODES = ["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]


@pytest.fixture(scope="module")
def bert():
    return SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")


@pytest.fixture(scope="module")
def mpnet():
    return SentenceTransformer(str(FIXTURES / "tiny_mpnet_v6"), device="cpu")


def test_v6_folder_structure_and_config(bert):
    assert [type(m) for m in bert] == [Transformer, Pooling, Dense, Normalize]
    assert bert.max_seq_length == 128
    assert bert.prompts == {"query": "query: ", "document": "passage: "}
    assert bert.similarity_fn_name == "cosine"
    assert bert.get_embedding_dimension() == 16


@pytest.mark.parametrize("name, model", [("tiny_bert_v6", "bert"), ("tiny_mpnet_v6", "mpnet")])
def test_embeddings_match_st(name, model, request, texts):
    model, g = request.getfixturevalue(model), golden(name)
    np.testing.assert_allclose(model.encode(texts["tiny"], batch_size=3), g["emb"], atol=ATOL)
    np.testing.assert_allclose(model.encode([tuple(p) for p in texts["pairs"]]), g["emb_pairs"], atol=ATOL)
    np.testing.assert_allclose(model.encode(texts["tiny"], normalize_embeddings=True, truncate_dim=8),
                               g["emb_norm_trunc8"], atol=ATOL)
    for i in range(4):
        tokens = model.encode(texts["tiny"], output_value="token_embeddings")[i]
        np.testing.assert_allclose(tokens.numpy(), g[f"token_embeddings_{i}"], atol=ATOL)


@pytest.mark.parametrize("name, model", [("tiny_bert_v6", "bert"), ("tiny_mpnet_v6", "mpnet")])
def test_every_pooling_mode_matches_st(name, model, request, texts):
    model, g = request.getfixturevalue(model), golden(name)
    dim = model[0].get_embedding_dimension()
    modes = POOLING_MODES + [("cls", "max", "mean"), ("mean", "lasttoken", "cls")]
    for mode in modes:
        pooled = SentenceTransformer(modules=[model[0], Pooling(dim, mode)], device="cpu")
        key = "+".join(mode) if isinstance(mode, tuple) else mode
        np.testing.assert_allclose(pooled.encode(texts["tiny"]), g[f"pool_{key}"], atol=ATOL, err_msg=key)
    for mode in ("mean", "weightedmean", "lasttoken"):
        pooled = SentenceTransformer(modules=[model[0], Pooling(dim, mode, include_prompt=False)], device="cpu")
        np.testing.assert_allclose(pooled.encode(texts["tiny"], prompt="query: "), g[f"pool_{mode}_noprompt"],
                                   atol=ATOL, err_msg=mode)


def test_prompts_match_st(bert, texts):
    g = golden("tiny_bert_v6")
    np.testing.assert_allclose(bert.encode_query(texts["tiny"]), g["emb_query"], atol=ATOL)
    np.testing.assert_allclose(bert.encode_document(texts["tiny"]), g["emb_document"], atol=ATOL)
    np.testing.assert_allclose(bert.encode(texts["tiny"], prompt="Represent this: "), g["emb_prompt_literal"],
                               atol=ATOL)
    assert not np.allclose(bert.encode_query(texts["tiny"]), g["emb"])


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_precision_matches_st(bert, texts, precision):
    out = bert.encode(texts["tiny"], precision=precision)
    g = golden("tiny_bert_v6")
    expected = g[f"emb_{precision}"]
    assert out.dtype == expected.dtype
    if precision in ("binary", "ubinary"):
        np.testing.assert_array_equal(out, expected)
        return
    # int8/uint8 buckets come from these 10 embeddings' own per-dimension min/max, so each dimension's extremes sit
    # exactly on a bucket edge, where the truncation to an integer follows the float's last bits, which differ
    # between CPUs (7 of 160 on an AVX2-only CPU against AVX-512 goldens, all at a dimension's max). The floats are
    # equal to ATOL (test_embeddings_match_st), so buckets must be equal except where a float lies within 2 * ATOL of
    # an edge (the ranges move too); there they may be one bucket apart.
    emb = g["emb"]
    low, high = emb.min(axis=0), emb.max(axis=0)
    position = (emb - low) / ((high - low) / 255)  # 0..255 within the bucket grid
    on_edge = np.abs(position - np.round(position)) < 2 * ATOL * 255 / (high - low)
    diff = np.abs(out.astype(np.int64) - expected.astype(np.int64))
    assert diff[~on_edge].max() == 0
    assert diff.max() <= 1


@pytest.mark.parametrize("folder", ["tiny_bert_classic", "tiny_bert_v6"])
def test_both_on_disk_generations_give_the_same_model(folder, texts):
    model = SentenceTransformer(str(FIXTURES / folder), device="cpu")
    assert model.max_seq_length == 128 and [type(m) for m in model][-1] is Normalize
    np.testing.assert_allclose(model.encode(texts["tiny"]), golden("tiny_bert_v6")["emb"], atol=ATOL)


def test_plain_hf_mlm_checkpoint_gets_mean_pooling(texts):
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_hf"), device="cpu")
    assert [type(m) for m in model] == [Transformer, Pooling] and model[1].pooling_mode == "mean"
    g = golden("tiny_bert_hf")
    assert model.max_seq_length == 512
    np.testing.assert_array_equal(model.tokenize(texts["tiny"])["input_ids"].numpy(), g["input_ids"])
    np.testing.assert_allclose(model.encode(texts["tiny"]), g["emb"], atol=ATOL)


def test_output_shapes_and_types(bert):
    assert bert.encode("one").shape == (16,)
    assert isinstance(bert.encode([]), np.ndarray) and bert.encode([]).shape == (0,)
    assert isinstance(bert.encode([], convert_to_tensor=True), torch.Tensor)
    tensor = bert.encode(["a", "bb"], convert_to_tensor=True)
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (2, 16)
    as_list = bert.encode(["a", "bb"], convert_to_numpy=False)
    assert isinstance(as_list, list) and as_list[0].shape == (16,)
    dicts = bert.encode(["a", "bb bb"], output_value=None)
    assert set(dicts[1]) >= {"input_ids", "token_embeddings", "sentence_embedding"}
    assert bert.encode(np.array(["a", "b"])).shape == (2, 16)


def test_order_is_restored_whatever_the_batch_size(bert, texts):
    reference = bert.encode(texts["tiny"], batch_size=100)
    for batch_size in (1, 2, 7):
        np.testing.assert_allclose(bert.encode(texts["tiny"], batch_size=batch_size), reference, atol=ATOL)


def test_truncate_dim_everywhere(texts):
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu", truncate_dim=4)
    assert model.get_embedding_dimension() == 4
    assert model.encode(texts["tiny"]).shape == (len(texts["tiny"]), 4)
    with model.truncate_embeddings(2):
        assert model.encode("x").shape == (2,) and model.get_embedding_dimension() == 2
    assert model.truncate_dim == 4


def test_similarity_functions(bert):
    emb = bert.encode(["a cat", "a dog", "stocks fell"], convert_to_tensor=True)
    assert bert.similarity(emb, emb).shape == (3, 3)
    torch.testing.assert_close(bert.similarity(emb, emb).diagonal(), torch.ones(3))
    bert.similarity_fn_name = "euclidean"
    try:
        assert torch.all(bert.similarity(emb, emb) <= 0)
        torch.testing.assert_close(bert.similarity_pairwise(emb, emb), torch.zeros(3))
    finally:
        bert.similarity_fn_name = "cosine"
    with pytest.raises(ValueError, match="similarity_fn_name"):
        bert.similarity_fn_name = "jaccard"


def test_save_then_load_round_trip(bert, tmp_path, texts):
    bert.save(tmp_path / "saved")
    for f in ("modules.json", "config_sentence_transformers.json", "model.safetensors", "tokenizer.json",
              "sentence_bert_config.json", "1_Pooling/config.json", "2_Dense/model.safetensors", "README.md"):
        assert (tmp_path / "saved" / f).is_file(), f
    loaded = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    np.testing.assert_array_equal(loaded.encode(texts["tiny"]), bert.encode(texts["tiny"]))
    assert loaded.prompts == bert.prompts and loaded.max_seq_length == bert.max_seq_length
    assert not list(tmp_path.glob(".saved.*")), "temporary folders must not be left behind"


def test_save_over_an_existing_folder_keeps_unrelated_files(bert, tmp_path):
    target = tmp_path / "m"
    bert.save(target)
    (target / "notes.txt").write_text("mine")
    bert.save(target)
    assert (target / "notes.txt").read_text() == "mine"


def test_save_over_an_older_folder_drops_the_files_a_loader_would_read_stale(bert, tmp_path, texts):
    """A tokenizer's side files (an older save's added_tokens.json / vocab.txt: transformers adds those tokens beyond
    the embedding table) and an adapter (peft would apply it on top of the new full weights) are not carried over
    when the new save has its own tokenizer.json / weights; a user's other files are."""
    target = tmp_path / "m"
    bert.save(target)
    stale = {"added_tokens.json": '{"[NEW]": 99999}', "vocab.txt": "[PAD]\n", "merges.txt": "#v\n",
             "spiece.model": "x", "adapter_config.json": "{}", "adapter_model.safetensors": "x"}
    for name, content in stale.items():
        (target / name).write_text(content)
    (target / "notes.txt").write_text("mine")
    bert.save(target)
    assert not [name for name in stale if (target / name).exists()]
    assert (target / "notes.txt").read_text() == "mine"
    np.testing.assert_array_equal(SentenceTransformer(str(target), device="cpu").encode(texts["tiny"]),
                                  bert.encode(texts["tiny"]))


def test_failed_save_leaves_previous_model_intact(bert, tmp_path, monkeypatch, texts):
    target = tmp_path / "m"
    bert.save(target)
    before = SentenceTransformer(str(target), device="cpu").encode(texts["tiny"])

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Pooling, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        bert.save(target)
    np.testing.assert_array_equal(SentenceTransformer(str(target), device="cpu").encode(texts["tiny"]), before)
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_sharded_and_bin_weights_load_identically(tmp_path, texts):
    from safetensors.torch import load_file, save_file

    reference = golden("tiny_bert_v6")["emb"]
    for layout in ("sharded", "bin"):
        folder = tmp_path / layout
        SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu").save(folder)
        state = load_file(folder / "model.safetensors")
        (folder / "model.safetensors").unlink()
        if layout == "bin":
            torch.save(state, folder / "pytorch_model.bin")
        else:
            keys = sorted(state)
            half = len(keys) // 2
            save_file({k: state[k] for k in keys[:half]}, folder / "model-00001-of-00002.safetensors")
            save_file({k: state[k] for k in keys[half:]}, folder / "model-00002-of-00002.safetensors")
            weight_map = {k: f"model-0000{1 if i < half else 2}-of-00002.safetensors" for i, k in enumerate(keys)}
            import json

            (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
        model = SentenceTransformer(str(folder), device="cpu")
        np.testing.assert_allclose(model.encode(texts["tiny"]), reference, atol=ATOL, err_msg=layout)


def test_modules_constructor_and_default_device(texts):
    transformer = Transformer(str(FIXTURES / "tiny_mpnet_v6"))
    model = SentenceTransformer(modules=[transformer, Pooling(32)])
    assert model.device.type in ("cpu", "cuda", "mps")
    np.testing.assert_allclose(model.to("cpu").encode(texts["tiny"]), golden("tiny_mpnet_v6")["emb"], atol=ATOL)


def test_saved_dense_config_is_readable_by_st5(bert, tmp_path):
    """ST 5.x's Dense takes only in/out features, bias and activation: default names must not be written."""
    import json

    bert.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "2_Dense" / "config.json").read_text())
    assert config == {"in_features": 32, "out_features": 16, "bias": True,
                      "activation_function": "torch.nn.modules.activation.Tanh"}


@pytest.mark.parametrize("first, second", [(True, False), (False, True)], ids=["safetensors_then_bin",
                                                                                 "bin_then_safetensors"])
def test_saving_over_a_folder_in_the_other_format_loads_what_was_saved(tmp_path, first, second):
    import torch

    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    folder = tmp_path / "model"
    model.save(str(folder), safe_serialization=first)
    (folder / "NOTES.md").write_text("mine")
    with torch.no_grad():
        model[0].auto_model.layers[0].attn.q.weight.mul_(2.0)
    model.save(str(folder), safe_serialization=second)
    reloaded = SentenceTransformer(str(folder), device="cpu")
    np.testing.assert_allclose(reloaded.encode(["a text"]), model.encode(["a text"]), atol=1e-6)
    assert (folder / "NOTES.md").read_text() == "mine"  # the user's own files stay
    assert {p.name for p in folder.iterdir()} & {"model.safetensors", "pytorch_model.bin"} == {
        "model.safetensors" if second else "pytorch_model.bin"}


@pytest.mark.parametrize("first, second", [(True, False), (False, True)])
def test_cross_encoder_saved_over_the_other_format_loads_what_was_saved(tmp_path, first, second):
    import torch

    from embedkit import CrossEncoder

    model = CrossEncoder(str(FIXTURES / "ce_bert1"), device="cpu")
    folder = tmp_path / "ce"
    model.save(str(folder), safe_serialization=first)
    with torch.no_grad():
        model.model.classifier.out.weight.mul_(-1.0)
    model.save(str(folder), safe_serialization=second)
    pairs = [("a", "b"), ("c", "d")]
    np.testing.assert_allclose(CrossEncoder(str(folder), device="cpu").predict(pairs), model.predict(pairs),
                               atol=1e-6)


def test_saved_config_names_the_dtype_the_weights_are_written_in(tmp_path):
    """As transformers' save_pretrained: a model cast to bfloat16 is written with config.json saying so (it said
    float32, so ST 6.2 and model_kwargs={"dtype": "auto"} reloaded it in float32)."""
    import json

    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    model.save(tmp_path / "fp32")
    assert json.loads((tmp_path / "fp32" / "config.json").read_text())["dtype"] == "float32"
    model.to(torch.bfloat16).save(tmp_path / "bf16")
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["dtype"] == "bfloat16"
    reloaded = SentenceTransformer(str(tmp_path / "bf16"), device="cpu", model_kwargs={"dtype": "auto"})
    assert next(reloaded.parameters()).dtype == torch.bfloat16
