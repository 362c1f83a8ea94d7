"""SentenceTransformer's ST 6 API surface: input names, loading routes, Hub upload, prompt and kwargs errors."""

from __future__ import annotations

import logging
from unittest import mock

import numpy as np
import pytest
import torch

from embedkit import SentenceTransformer
from embedkit.sentence_transformer.modules import Pooling
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def bert():
    return SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")


def test_inputs_and_sentences_are_both_accepted(bert, caplog):
    """sentence-transformers 6.x: ``sentences`` still works, with one deprecation warning per process; given both
    names, ``inputs`` wins."""
    from embedkit.util import logging as ek_logging

    message = "The `sentences` argument was renamed and is now deprecated. Please use `inputs` instead."
    ek_logging._seen.discard(("embedkit.util.decorators", message))  # shown once per process: maybe already shown
    by_position = bert.encode(["a b", "c"])
    np.testing.assert_array_equal(bert.encode(inputs=["a b", "c"]), by_position)
    with caplog.at_level("WARNING"):
        np.testing.assert_array_equal(bert.encode(sentences=["a b", "c"]), by_position)
        np.testing.assert_array_equal(bert.encode_query(sentences=["a b"]), bert.encode_query(inputs=["a b"]))
    assert caplog.text.count(message) == 1
    np.testing.assert_array_equal(bert.encode(inputs=["a b"], sentences=["c"]), bert.encode(["a b"]))


@pytest.mark.parametrize("method", ["encode_query", "encode_document"])
def test_encode_query_and_document_without_sentences_do_not_warn(bert, method, caplog):
    """They call embedkit's own encode with ``inputs`` (they passed ``sentences``, so that every first call warned
    about a name the user never wrote)."""
    from embedkit.util import logging as ek_logging

    message = "The `sentences` argument was renamed and is now deprecated. Please use `inputs` instead."
    ek_logging._seen.discard(("embedkit.util.decorators", message))
    with caplog.at_level("WARNING"):
        getattr(bert, method)(["a b"])
        getattr(bert, method)(inputs=["a b"])
    assert message not in caplog.text


def test_encode_query_passes_the_name_the_encode_override_declares(bert):
    seen = {}

    def five_x_encode(sentences, **kwargs):
        seen["five"] = sentences

    def six_x_encode(*args, **kwargs):
        seen["six"] = kwargs["inputs"]

    with mock.patch.object(bert, "encode", five_x_encode):
        bert.encode_query("q")
    with mock.patch.object(bert, "encode", six_x_encode):
        bert.encode_document("d")
    assert seen == {"five": "q", "six": "d"}


@pytest.mark.parametrize("kind", ["sentence_transformer", "sparse_encoder"])
@pytest.mark.parametrize("method", ["encode_query", "encode_document"])
def test_an_encode_declaring_both_names_gets_the_one_the_caller_wrote(bert, kind, method):
    """embedkit's own encode (here spied with its signature, as a 5.x test's ``autospec`` mock does) declares
    ``inputs`` and ``sentences``: ``sentences=`` is passed on as ``sentences`` (as sentence-transformers 5.x does),
    ``inputs=`` or a positional argument as ``inputs``."""
    from embedkit import SparseEncoder

    model = bert if kind == "sentence_transformer" else SparseEncoder(str(FIXTURES / "se_bert_v6"), device="cpu")
    for call, name in [({"sentences": ["a"]}, "sentences"), ({"inputs": ["a"]}, "inputs"), ({}, "inputs")]:
        with mock.patch.object(model, "encode", autospec=True) as spy:
            getattr(model, method)(*([] if call else [["a"]]), **call)
        assert spy.call_args.kwargs[name] == ["a"], (call, spy.call_args)
        assert ({"inputs", "sentences"} - {name}).isdisjoint(spy.call_args.kwargs)


def test_precision_none_means_float32_and_messages_follow_st(bert):
    assert bert.encode(["a"], precision=None).dtype == np.float32
    with pytest.raises(ValueError, match="Precision 'int4' is not supported"):
        bert.encode(["a"], precision="int4")
    with pytest.raises(ValueError, match=r"Prompt name 'nope' not found .* keys \['query', 'document'\]"):
        bert.encode(["a"], prompt_name="nope")
    with pytest.raises(ValueError, match="does not accept any additional keyword arguments"):
        bert.encode(["a"], colour="blue")


@pytest.mark.parametrize(("precision", "dtype", "width"), [("int8", np.int8, 32), ("uint8", np.uint8, 32),
                                                          ("binary", np.int8, 4), ("ubinary", np.uint8, 4)])
def test_token_embeddings_are_quantized_with_ranges_shared_by_every_text(bert, precision, dtype, width):
    """As sentence-transformers 6.x: one (tokens, dim) integer array per text; int8 buckets come from all texts'
    tokens together."""
    from embedkit.util import quantize_embeddings

    texts = ["a cat sat on the mat", "dog", "a longer sentence about many different things"]
    floats = bert.encode(texts, output_value="token_embeddings")
    got = bert.encode(texts, output_value="token_embeddings", precision=precision)
    expected = quantize_embeddings(floats, precision=precision)
    assert [g.shape for g in got] == [(f.shape[0], width) for f in floats]
    for g, e in zip(got, expected):
        assert isinstance(g, np.ndarray) and g.dtype == dtype
        np.testing.assert_array_equal(g, e)
    single = bert.encode(texts[1], output_value="token_embeddings", precision=precision, normalize_embeddings=False)
    assert single.dtype == dtype and single.shape[0] == floats[1].shape[0]
    with pytest.raises(ValueError, match="output_value=None returns every output"):
        bert.encode(texts, output_value=None, precision=precision)


def test_empty_modules_and_auth_token_arguments():
    with pytest.raises(ValueError, match="An empty modules list was passed to SentenceTransformer"):
        SentenceTransformer(modules=[])
    with pytest.warns(FutureWarning, match="use_auth_token"), pytest.raises(ValueError, match="Both `token`"):
        SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), token="a", use_auth_token="b")


def test_small_accessors(bert):
    assert bert.is_singular_input("text") and not bert.is_singular_input(["text"])
    assert not bert.is_singular_input(np.array(["a", "b"]))
    assert bert.get_max_seq_length() == bert.max_seq_length
    assert bert.dtype is not None and bert.config is not None
    with pytest.warns(FutureWarning, match="`get_sentence_embedding_dimension` method has been renamed"):
        assert bert.get_sentence_embedding_dimension() == bert.get_embedding_dimension() == 16
    with pytest.warns(FutureWarning, match="`truncate_sentence_embeddings` method has been renamed"):
        with bert.truncate_sentence_embeddings(8):
            assert bert.encode("a").shape == (8,)
    assert "dot" in SentenceTransformer.SUPPORTED_SIMILARITY_FN_NAMES
    with pytest.raises(ValueError, match="MultiVectorEncoder"):
        bert.similarity_fn_name = "maxsim"


def test_set_pooling_include_prompt():
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    model.set_pooling_include_prompt(False)
    assert next(m for m in model if isinstance(m, Pooling)).include_prompt is False


def test_other_model_type_is_converted_without_its_prompts(tmp_path, caplog):
    source = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")

    class Renamed(SentenceTransformer):
        model_type = "Renamed"

    with caplog.at_level(logging.WARNING, logger="embedkit.base.model"):
        converted = Renamed(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    assert "Converting SentenceTransformer model" in caplog.text
    assert [type(m).__name__ for m in converted] == ["Transformer", "Pooling"]
    assert converted.prompts == {"query": "", "document": ""}
    converted.save(str(tmp_path / "renamed"))
    assert Renamed(str(tmp_path / "renamed"), device="cpu").prompts == {"query": "", "document": ""}
    assert source.prompts["query"] == "query: "


def test_push_to_hub_uploads_a_saved_folder(bert, monkeypatch):
    from huggingface_hub import HfApi

    uploaded = {}

    def upload_folder(self, folder_path, **kwargs):
        import os

        uploaded.update(kwargs, files=sorted(os.listdir(folder_path)))
        return mock.Mock(commit_url="https://hub/commit/1", pr_url="https://hub/pr/1")

    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs: mock.Mock(repo_id=repo_id))
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    # no README.md on the (absent) Hub: the card is written; the real look-up would wait on the network here
    monkeypatch.setattr("embedkit.hub._hub_readme_exists", lambda repo_id, token, revision: False)
    assert bert.push_to_hub("me/model") == "https://hub/commit/1"
    assert uploaded["repo_id"] == "me/model" and {"modules.json", "README.md"} <= set(uploaded["files"])
    assert uploaded["commit_message"] == "Add new SentenceTransformer model"
    assert bert.push_to_hub("me/model", create_pr=True) == "https://hub/pr/1"
    assert "SentenceTransformer compatibility" in uploaded["commit_description"]
    assert uploaded["commit_description"].endswith(bert._push_to_hub_usage_tip("me/model"))


# sentence-transformers 6.2's text for a create_pr=True upload of SentenceTransformer "me/model" (compared by hand)
ST_PR_TIP = """## Testing this pull request
You can test this pull request before merging by loading the model from this PR with the `revision` argument:
```python
from sentence_transformers import SentenceTransformer

# NOTE: Update this to the number of your pull request
pr_number = 2
model = SentenceTransformer(
    "me/model",
    revision=f"refs/pr/{pr_number}",
    backend="torch",
)

# Verify that everything works as expected
embeddings = model.encode(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
print(embeddings.shape)

similarities = model.similarity(embeddings, embeddings)
print(similarities)
```

---
*This PR was auto-generated with \
[`push_to_hub`](https://sbert.net/docs/package_reference/sentence_transformer/SentenceTransformer.html#sentence_transformers.SentenceTransformer.push_to_hub).*
""".replace("\\\n", "")


def test_pull_request_usage_tip_is_sentence_transformers_text_for_each_model_type(bert):
    from embedkit import CrossEncoder, SparseEncoder

    assert bert._push_to_hub_usage_tip("me/model") == ST_PR_TIP
    ce_tip = CrossEncoder(str(FIXTURES / "ce_bert1"), device="cpu")._push_to_hub_usage_tip("me/model")
    assert "from sentence_transformers import CrossEncoder" in ce_tip and 'backend="torch"' in ce_tip
    assert 'scores = model.predict([("The weather is lovely today.", "It\'s so sunny outside!")])' in ce_tip
    assert "rankings = model.rank(" in ce_tip and "model.encode(" not in ce_tip
    assert "cross_encoder/cross_encoder.html#sentence_transformers.cross_encoder.CrossEncoder.push_to_hub)" in ce_tip
    sparse_tip = SparseEncoder(str(FIXTURES / "se_bert_v6"), device="cpu")._push_to_hub_usage_tip("me/model")
    assert sparse_tip == ST_PR_TIP.replace("SentenceTransformer", "SparseEncoder").replace(
        "sentence_transformer/SparseEncoder.html#sentence_transformers.SparseEncoder",
        "sparse_encoder/SparseEncoder.html#sentence_transformers.sparse_encoder.SparseEncoder")


def test_config_round_trips_through_to_dict_and_can_be_assigned():
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    expected = model.encode(["a b c"])
    config = model.config
    copy = type(config)(**config.to_dict())
    assert copy == config and copy is not config and copy.hf_config == config.hf_config
    model.config = copy
    assert model.config is copy and model.transformers_model.config is copy
    np.testing.assert_array_equal(model.encode(["a b c"]), expected)


def test_a_module_save_without_safe_serialization_is_called_without_it(tmp_path, monkeypatch):
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    transformer_type = type(model[0])
    original, calls = transformer_type.save, []

    def old_style_save(self, path):  # a save() written before the keyword existed
        calls.append(path)
        return original(self, path)

    monkeypatch.setattr(transformer_type, "save", old_style_save)
    model.save(str(tmp_path / "out"))
    assert len(calls) == 1
    np.testing.assert_array_equal(SentenceTransformer(str(tmp_path / "out"), device="cpu").encode(["a b"]),
                                  model.encode(["a b"]))

    def broken_save(self, path, safe_serialization=True):
        raise TypeError("something else went wrong")

    monkeypatch.setattr(transformer_type, "save", broken_save)
    with pytest.raises(TypeError, match="something else"):
        model.save(str(tmp_path / "other"))


def test_features_name_their_modality_as_in_sentence_transformers_6(bert):
    features = bert.preprocess(["a b", "c"])
    assert features["modality"] == "text" and sorted(features) == [
        "attention_mask", "input_ids", "modality", "token_type_ids"]
    rows = bert.encode(["a b", "c"], output_value=None)
    assert [row["modality"] for row in rows] == ["text", "text"]
    assert sorted(rows[0]) == ["attention_mask", "input_ids", "modality", "sentence_embedding", "token_embeddings",
                               "token_type_ids"]


class _FakeImage:
    """Stands in for a PIL image (its module name is what marks the modality), so the test needs no Pillow."""


_FakeImage.__module__ = "PIL.Image"


@pytest.mark.parametrize("make_model", ["bert", "sparse", "static"])
def test_non_text_inputs_are_refused_at_the_model_with_st_messages(bert, make_model):
    from embedkit import SparseEncoder

    model = {"bert": lambda: bert, "sparse": lambda: SparseEncoder(str(FIXTURES / "se_bert_v6"), device="cpu"),
             "static": lambda: SentenceTransformer(str(FIXTURES / "static_st"), device="cpu")}[make_model]()
    name = type(model).__name__
    image = _FakeImage()
    cases = [  # (inputs, the message sentence-transformers 6.2 gives, recorded from it)
        ([image], f"Modality 'image' is not supported by this {name} model. Supported modalities: text."),
        ([np.zeros((3, 4, 4))], f"Modality 'image' is not supported by this {name} model. Supported modalities: text."),
        ([np.zeros(16)], f"Modality 'audio' is not supported by this {name} model. Supported modalities: text."),
        ([{"text": "a", "image": image}],
         f"Modality 'image+text' is not supported by this {name} model. Supported modalities: text."),
        ([{"image": image}], f"Modality 'image' is not supported by this {name} model. Supported modalities: text."),
        (["a", image], f"This batch mixes multiple modalities (image, text), but this {name} model does not "
                       "support image. Supported modalities: text."),
    ]
    for inputs, message in cases:
        with pytest.raises(ValueError) as caught:
            model.encode(inputs)
        assert str(caught.value) == message
        with pytest.raises(ValueError) as caught:
            model.preprocess(inputs)
        assert str(caught.value) == message
    model.check_input_modality(["text", ("a", "pair"), {"text": "b"}])  # text passes


class ScaledPooling(Pooling):
    """A user's own module class, as sentence-transformers' custom-module docs write them."""


def test_a_model_with_a_users_module_saves_it_under_its_import_path(bert, tmp_path):
    """sentence-transformers saves such a module as ``<module>.<class>`` for code that imports it to load; embedkit
    saves the same (it used to refuse to save), and never imports the class when loading: a clear error instead."""
    import json

    model = SentenceTransformer(modules=[bert[0], ScaledPooling(bert[0].get_embedding_dimension(), "mean")])
    model.save(str(tmp_path / "m"))
    entries = json.loads((tmp_path / "m" / "modules.json").read_text())
    assert entries[1]["type"] == f"{__name__}.ScaledPooling" and entries[1]["path"] == "1_ScaledPooling"
    assert (tmp_path / "m" / "1_ScaledPooling" / "config.json").is_file()
    with pytest.raises(ValueError, match="custom code is never run"):
        SentenceTransformer(str(tmp_path / "m"), device="cpu")
    with pytest.raises(ValueError, match="has no save\\(\\) method"):
        SentenceTransformer(modules=[bert[0], torch.nn.Identity()]).save(str(tmp_path / "x"))


def test_get_word_embedding_dimension_warns_as_st_6_does(bert):
    """sentence-transformers 6.2 answers the 5.x name on every module with a FutureWarning (recorded by hand);
    embedkit's Transformer, CNN, LSTM, WordEmbeddings and WeightedLayerPooling answered it silently."""
    from embedkit.sentence_transformer.modules import CNN

    for module in (bert[0], CNN(8)):
        with pytest.warns(FutureWarning, match="`get_word_embedding_dimension` method has been renamed to "
                                               "`get_embedding_dimension`"):
            assert module.get_word_embedding_dimension() == module.get_embedding_dimension()
