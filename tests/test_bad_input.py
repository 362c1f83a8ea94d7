"""Clear errors on bad input, bad folders and unsafe requests."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from embedkit import SentenceTransformer
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def bert():
    return SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")


def copy_model(tmp_path, name="tiny_bert_v6"):
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    return target


@pytest.mark.parametrize("bad, index, type_name", [(["ok", 3], 1, "int"), ([None], 0, "NoneType"),
                                                   (["a", "b", ("x", 1)], 2, "tuple")])
def test_non_string_items_raise_type_error_naming_index_and_type(bert, bad, index, type_name):
    with pytest.raises(TypeError, match=rf"input {index} has type {type_name}"):
        bert.encode(bad)


def test_bad_input_types_are_also_value_errors_as_in_sentence_transformers():
    """sentence-transformers raises ValueError for these, embedkit an error that is both a TypeError and a
    ValueError, so code written for either catches it. Every kind: an item of another type, no inputs at all, a
    pair with a non-string, a triple, a sparse model's bad item, a StaticEmbedding's bad item."""
    from embedkit import CrossEncoder, SparseEncoder

    bert = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    ce = CrossEncoder(str(FIXTURES / "ce_bert1"), device="cpu")
    sparse = SparseEncoder(str(FIXTURES / "se_bert_v6"), device="cpu")
    static = SentenceTransformer(str(FIXTURES / "static_st"), device="cpu")
    calls = [lambda: bert.encode(["a", None]), lambda: bert.encode(5), lambda: bert.encode(None),
             lambda: bert.encode(np.array("a")), lambda: ce.predict([("a", None)]),
             lambda: ce.predict([("a", "b", "c")]), lambda: sparse.encode(["a", 3]), lambda: static.encode(["a", 3])]
    for call in calls:
        with pytest.raises(ValueError) as caught:
            call()
        assert isinstance(caught.value, TypeError)


@pytest.mark.parametrize("batch_size", [0, -1, True, 2.0, "2"])
def test_batch_size_must_be_a_positive_integer(bert, batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        bert.encode(["a"], batch_size=batch_size)


def test_numpy_integer_batch_size_is_accepted(bert):
    import numpy as np

    assert bert.encode(["a", "b", "c"], batch_size=np.int64(2)).shape == (3, 16)


@pytest.mark.parametrize("truncate_dim", [0, -1, True, 2.5])
def test_truncate_dim_must_be_positive(bert, truncate_dim):
    with pytest.raises(ValueError, match="truncate_dim"):
        bert.encode(["a"], truncate_dim=truncate_dim)


def test_unknown_output_value_names_the_valid_ones(bert):
    with pytest.raises(ValueError, match="output_value='bogus' is not an output.*sentence_embedding"):
        bert.encode(["a"], output_value="bogus")


def test_rank_refuses_a_string_of_documents_and_negative_top_k():
    from embedkit import CrossEncoder

    model = CrossEncoder(str(FIXTURES / "ce_bert1"), device="cpu")
    with pytest.raises(TypeError, match="one string"):
        model.rank("q", "abc")
    with pytest.raises(ValueError, match="top_k"):
        model.rank("q", ["a", "b"], top_k=-1)
    assert len(model.rank("q", ["a", "b", "c"], top_k=2)) == 2


def test_unknown_precision_prompt_and_kwargs(bert):
    with pytest.raises(ValueError, match="Precision 'int4' is not supported"):
        bert.encode(["a"], precision="int4")
    with pytest.raises(ValueError, match="Prompt name 'nope' not found"):
        bert.encode(["a"], prompt_name="nope")
    with pytest.raises(ValueError, match="does not use"):
        bert.encode(["a"], colour="blue")


def test_missing_local_path_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nothing")):
        SentenceTransformer(str(tmp_path / "nothing"))


def test_missing_hub_id_offline_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"sentence-transformers/no-such-model-xyz.*Hub cache"):
        SentenceTransformer("no-such-model-xyz", cache_folder=str(tmp_path))


def test_trust_remote_code_is_accepted_and_runs_no_folder_code(tmp_path):
    """ST's model cards ask for ``trust_remote_code=True``; embedkit accepts it and runs no more than without it: a
    config.json ``auto_map`` to code in the folder is never imported, and a module type outside sentence-transformers'
    is refused with the flag as without it."""
    import sys

    folder = copy_model(tmp_path)
    (folder / "evil_code.py").write_text("raise SystemExit('folder code ran')\n")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil_code.Config", "AutoModel": "evil_code.Model"}
    (folder / "config.json").write_text(json.dumps(config))
    trusted = SentenceTransformer(str(folder), device="cpu", trust_remote_code=True)
    assert trusted.trust_remote_code and "evil_code" not in sys.modules
    plain = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    np.testing.assert_array_equal(trusted.encode(["a cat"]), plain.encode(["a cat"]))
    modules = json.loads((folder / "modules.json").read_text())
    modules[-1]["type"] = "evil_code.Pooling"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match="not supported by embedkit"):
        SentenceTransformer(str(folder), device="cpu", trust_remote_code=True)


@pytest.mark.parametrize("cut", [4, 100, -100])
def test_truncated_or_corrupted_safetensors_names_the_file(tmp_path, cut):
    folder = copy_model(tmp_path)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:cut])
    with pytest.raises(ValueError, match="model.safetensors"):
        SentenceTransformer(str(folder), device="cpu")


def test_unknown_module_type_lists_supported_ones(tmp_path):
    folder = copy_model(tmp_path)
    modules = json.loads((folder / "modules.json").read_text())
    modules[1]["type"] = "my_package.CustomPooling"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match=r"(?s)my_package.CustomPooling.*sentence_transformers.models.Pooling"):
        SentenceTransformer(str(folder), device="cpu")


@pytest.mark.parametrize("path", ["../outside", "/etc", "1_Pooling/../../x"])
def test_module_paths_escaping_the_folder_are_rejected(tmp_path, path):
    folder = copy_model(tmp_path)
    modules = json.loads((folder / "modules.json").read_text())
    modules[1]["path"] = path
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match="absolute|escapes"):
        SentenceTransformer(str(folder), device="cpu")


def test_dense_activation_outside_torch_is_refused(tmp_path):
    folder = copy_model(tmp_path)
    config_path = folder / "2_Dense" / "config.json"
    config = json.loads(config_path.read_text())
    config["activation_function"] = "os.system"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="only torch"):
        SentenceTransformer(str(folder), device="cpu")


def test_pickle_weights_that_need_code_are_refused(tmp_path):
    import pickle

    folder = copy_model(tmp_path)
    (folder / "model.safetensors").unlink()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(ValueError, match=r"pytorch_model.bin.*weights_only"):
        SentenceTransformer(str(folder), device="cpu")


def test_tokenizer_larger_than_embedding_is_reported(tmp_path):
    folder = copy_model(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["vocab_size"] = 100
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="embed|vocab|shape"):
        SentenceTransformer(str(folder), device="cpu")


def test_a_lone_surrogate_is_replaced_not_a_crash(bert):
    # legal in a Python str (json.loads('"\\ud800"') gives one), not in UTF-8: the tokenizer sees U+FFFD instead
    import numpy as np

    got = bert.encode(["caf\ud800e", "ok"])
    np.testing.assert_allclose(got, bert.encode(["caf\ufffde", "ok"]), atol=1e-6)
    assert bert.tokenizer.tokenize("caf\ud800e") == bert.tokenizer.tokenize("caf\ufffde")


@pytest.mark.parametrize("name", ["config_sentence_transformers.json", "modules.json", "config.json"])
@pytest.mark.parametrize("kind", ["symlink_to_dev_zero", "fifo", "directory", "oversized"])
def test_special_or_huge_files_in_a_model_folder_are_refused_not_read(tmp_path, kind, name, monkeypatch):
    import os

    folder = tmp_path / "model"
    shutil.copytree(FIXTURES / "tiny_bert_v6", folder)
    target = folder / name
    target.unlink()
    if kind == "symlink_to_dev_zero":
        target.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    else:
        from embedkit.util import file_io

        monkeypatch.setattr(file_io, "MAX_CONFIG_BYTES", 1024)
        monkeypatch.setattr(file_io.read_config_text, "__defaults__", (1024,))
        target.write_text("{" + " " * 4096 + "}")
    with pytest.raises(ValueError, match=f"{name} (is not a regular file|is larger than)"):
        SentenceTransformer(str(folder), device="cpu")


def test_integer_weights_for_float_parameters_are_refused_naming_the_key(tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "model"
    shutil.copytree(FIXTURES / "tiny_bert_v6", folder)
    state = load_file(str(folder / "model.safetensors"))
    key = next(k for k in state if k.endswith("query.weight"))
    state[key] = state[key].round().to(torch.int32)
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match="model.safetensors.*non-float weights for float parameters.*torch.int32"):
        SentenceTransformer(str(folder), device="cpu")


def test_a_text_dict_is_its_text_and_other_containers_are_refused(bert):
    import numpy as np

    # sentence-transformers' multimodal form {"text": ...} is the text, alone or in a list (the old code embedded keys)
    np.testing.assert_array_equal(bert.encode({"text": "hello world"}), bert.encode("hello world"))
    np.testing.assert_array_equal(bert.encode([{"text": "a b"}, "c"]), bert.encode(["a b", "c"]))
    with pytest.raises(ValueError, match="Modality 'image' is not supported by this SentenceTransformer model"):
        bert.encode({"image": "cat.png"})
    with pytest.raises(TypeError, match="0-d NumPy array"):  # it embedded the string's 11 characters one by one
        bert.encode(np.array("hello world"))
    assert bert.encode(np.array(["a", "b"])).shape == (2, bert.get_embedding_dimension())


# ---- ids and lengths a folder's tokenizer produces, checked against the embedding tables at load (issue #18)

def edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_a_vocabulary_id_beyond_the_embedding_is_refused_at_load(tmp_path):
    # same token count as the table (3963), but 'world' has id 10000: it loaded, then encode raised IndexError
    folder = copy_model(tmp_path)
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    tokenizer["model"]["vocab"]["world"] = 10000
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(ValueError, match=r"tiny_bert_v6: the tokenizer's token 'world' has id 10000 .* 3963 rows"):
        SentenceTransformer(str(folder), device="cpu")


def test_a_pad_id_outside_the_embedding_is_refused_at_load(tmp_path):
    folder = copy_model(tmp_path)
    edit_json(folder / "config.json", pad_token_id=5000)  # was a bare AssertionError from torch
    with pytest.raises(ValueError, match=r"config.json: config pad_token_id=5000 .*vocab_size=3963"):
        SentenceTransformer(str(folder), device="cpu")
    folder = copy_model(tmp_path / "2")
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    tokenizer["model"]["vocab"]["[PAD]"] = 9999
    tokenizer["added_tokens"][0]["id"] = 9999
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(ValueError, match=r"token '\[PAD\]' has id 9999"):
        SentenceTransformer(str(folder), device="cpu")


def _with_token_type_rows(folder, rows):
    from safetensors.torch import load_file, save_file

    edit_json(folder / "config.json", type_vocab_size=rows)
    state = load_file(str(folder / "model.safetensors"))
    key = next(k for k in state if "token_type_embeddings" in k)
    state[key] = state[key][:rows].contiguous()
    save_file(state, str(folder / "model.safetensors"))


def test_type_vocab_size_1_gives_pairs_token_type_0_with_a_warning(tmp_path, caplog):
    import numpy as np

    from embedkit import CrossEncoder

    folder = copy_model(tmp_path, "ce_bert1")
    _with_token_type_rows(folder, 1)
    with caplog.at_level("WARNING"):
        model = CrossEncoder(str(folder), device="cpu")  # predict on pairs raised IndexError (type 1 has no row)
    scores = model.predict([("a query", "a document"), ("b", "c")])
    assert scores.shape == (2,) and np.isfinite(scores).all()
    assert "type_vocab_size=1: both texts of a pair get token type 0" in caplog.text
    assert "token_type_ids" not in model.preprocess([("a", "b")])


def test_type_vocab_size_0_is_refused_at_load(tmp_path):
    folder = copy_model(tmp_path)
    _with_token_type_rows(folder, 0)
    with pytest.raises(ValueError, match=r"config.json: config type_vocab_size=0"):
        SentenceTransformer(str(folder), device="cpu")


def test_max_seq_length_beyond_the_position_table_is_clamped_with_a_warning(tmp_path, caplog):
    folder = copy_model(tmp_path)  # BERT: positions 0..T-1, max_position_embeddings=512
    edit_json(folder / "sentence_bert_config.json", max_seq_length=1000)
    with caplog.at_level("WARNING"):
        model = SentenceTransformer(str(folder), device="cpu")
    assert model.max_seq_length == 512
    assert "max_seq_length=1000 is longer than the position table allows" in caplog.text
    assert model.encode(["word " * 900]).shape == (1, 16)  # was IndexError
    model.max_seq_length = 600
    assert model.max_seq_length == 512


def test_rotary_encoders_take_a_max_seq_length_beyond_max_position_embeddings():
    """No position table, no bound: sentence-transformers keeps max_seq_length=1000 on Qwen3 (rotary positions) and
    encodes every token; so does embedkit (it used to cap at max_position_embeddings, cutting the input)."""
    model = SentenceTransformer(str(FIXTURES / "qwen3_st"), device="cpu")
    limit = model[0].config.max_position_embeddings
    model.max_seq_length = limit + 100
    assert model.max_seq_length == limit + 100
    long_text = "word " * (limit + 50)
    assert model.tokenize([long_text])["input_ids"].shape[1] > limit
    assert model.encode([long_text]).shape[0] == 1


def test_mpnet_max_seq_length_leaves_room_for_the_position_offset(tmp_path):
    # MPNet positions start at padding_idx + 1 = 2: 514 rows hold 512 tokens, not 514
    folder = copy_model(tmp_path, "tiny_mpnet_v6")
    edit_json(folder / "tokenizer_config.json", model_max_length=100000)
    model = SentenceTransformer(str(folder), device="cpu")
    assert model.max_seq_length == 512
    assert model.encode(["word " * 900]).shape == (1, 32)  # was IndexError (positions 513 and 514)


def test_cross_encoder_max_length_beyond_the_position_table_is_clamped(tmp_path):
    from embedkit import CrossEncoder

    folder = copy_model(tmp_path, "ce_bert1")
    model = CrossEncoder(str(folder), device="cpu", max_length=5000)
    assert model.max_seq_length == 512
    assert model.predict([("word " * 400, "word " * 400)]).shape == (1,)


# Configs within every per-field limit whose tensors would not fit in memory, each with the small fixture's weights:
# the layers, the vocabulary and the width grow; the config's parameter count is checked before anything is built.
ABSURD = {
    "256_layers_4096_wide": {"num_hidden_layers": 256, "hidden_size": 4096, "intermediate_size": 16384,
                             "num_attention_heads": 16},
    "4m_vocabulary_16384_wide": {"vocab_size": 4_000_000, "hidden_size": 16384, "num_attention_heads": 16},
}


@pytest.mark.parametrize("case", list(ABSURD))
def test_a_config_larger_than_its_weights_is_refused_before_allocating(tmp_path, case):
    import resource

    folder = tmp_path / "m"
    shutil.copytree(FIXTURES / "tiny_bert_v6", folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **ABSURD[case]}))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match="config.json describes .* encoder parameters but the weights hold"):
        SentenceTransformer(str(folder), device="cpu")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200, f"peak memory grew by {grown_mib:.0f} MiB"  # the full model would take 60+ GB



@pytest.mark.parametrize("model_type", ["bert", "mpnet"])
@pytest.mark.parametrize("add_pooler", [True, False])
def test_the_parameter_count_of_a_config_is_what_a_build_holds(model_type, add_pooler):
    from embedkit.encoders import EncoderConfig, build_encoder

    config = EncoderConfig(model_type=model_type, vocab_size=37, hidden_size=12, num_hidden_layers=3,
                           num_attention_heads=3, intermediate_size=20, max_position_embeddings=40, type_vocab_size=2)
    built = build_encoder(config, add_pooler=add_pooler)
    assert config.parameter_count(add_pooler) == sum(t.numel() for t in built.state_dict().values())
