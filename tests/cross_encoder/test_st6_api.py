"""CrossEncoder's sentence-transformers 6.x surface: input forms, renamed arguments, prompts, module stacks, the
collator, the loss prompt keyword and the 5.x module paths."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from embedkit.base.modules import Dense, InputModule
from embedkit.cross_encoder import CrossEncoder
from embedkit.cross_encoder.data_collator import CrossEncoderDataCollator

FIX = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="module")
def ce() -> CrossEncoder:
    return CrossEncoder(FIX / "ce_bert1", device="cpu")


def test_numpy_inputs_match_lists(ce):
    pairs = [["what is ai", "artificial intelligence"], ["what is ml", "machine learning"]]
    np.testing.assert_allclose(ce.predict(np.array(pairs)), ce.predict(pairs), atol=1e-6)
    single = ce.predict(np.array(pairs[0]))
    assert isinstance(single, np.float32) and np.isclose(single, ce.predict(pairs)[0], atol=1e-6)
    assert ce.predict(np.array([], dtype=str)).shape == (0,)
    assert ce.is_singular_input(np.array(["q", "d"])) and not ce.is_singular_input(np.array(pairs))
    assert not ce.is_singular_input([]) and ce.is_singular_input(("q", "d"))


def test_lone_text_is_scored_on_its_own(ce):
    score = ce.predict("just one text")
    assert isinstance(score, np.float32) and 0 < score < 1


def test_rank_gives_python_floats_and_drops_convert_arguments(ce, caplog):
    with caplog.at_level(logging.WARNING):
        hits = ce.rank("query", ["doc a", "doc b"], convert_to_numpy=True)
    assert "convert_to_numpy" in caplog.text
    assert [type(hit["score"]) for hit in hits] == [float, float]
    assert [hit["score"] for hit in hits] == sorted((hit["score"] for hit in hits), reverse=True)


def test_sentences_keyword_is_renamed(ce, caplog):
    with caplog.at_level(logging.WARNING):
        scores = ce.predict(sentences=[("a", "b")])
    assert "`sentences` argument was renamed" in caplog.text and scores.shape == (1,)


def test_config_kwargs_and_legacy_classifier_dropout():
    assert CrossEncoder(FIX / "ce_bert1", device="cpu").config.classifier_dropout is None
    model = CrossEncoder(FIX / "ce_bert1", device="cpu", config_kwargs={"classifier_dropout": 0.25})
    assert model.model.config.classifier_dropout == 0.25
    assert model.model.classifier.dropout.p == 0.25  # the head is built with it
    assert CrossEncoder(FIX / "ce_bert1", device="cpu", classifier_dropout=0.5).config.classifier_dropout == 0.5


def test_model_kwargs_dtype_and_processor_max_length():
    model = CrossEncoder(FIX / "ce_bert1", device="cpu", model_kwargs={"torch_dtype": torch.bfloat16},
                         processor_kwargs={"model_max_length": 16})
    assert model.model.encoder.embed.tok.weight.dtype == torch.bfloat16
    assert model.max_seq_length == 16
    with pytest.warns(DeprecationWarning, match="The `max_length` property was renamed"):
        assert model.max_length == 16
    with pytest.warns(DeprecationWarning, match="Please use `max_seq_length` instead"):
        model.max_length = 12
    assert model.max_seq_length == 12
    assert model.predict([("a", "b")], convert_to_tensor=True).dtype == torch.float32


def test_per_call_max_length_changes_the_input(ce):
    pair = ("a fairly long first text of this pair", "and an even longer second text of this pair")
    features = ce.preprocess([pair], processing_kwargs={"text": {"max_length": 6}})
    assert features["input_ids"].shape[1] == 6
    assert not np.isclose(ce.predict([pair], processing_kwargs={"text": {"max_length": 6}})[0], ce.predict([pair])[0])


def test_prompts_round_trip_and_apply(tmp_path):
    model = CrossEncoder(FIX / "ce_bert1", device="cpu", prompts={"web": "Search the web: "})
    pair = [("query", "document")]
    plain, prompted = model.predict(pair)[0], model.predict(pair, prompt_name="web")[0]
    assert not np.isclose(plain, prompted)
    assert np.isclose(model.predict(pair, prompt="Search the web: ")[0], prompted)
    with pytest.raises(ValueError, match="Prompt name 'nope' not found"):
        model.predict(pair, prompt_name="nope")
    model.default_prompt_name = "web"
    model.save(tmp_path)
    loaded = CrossEncoder(tmp_path, device="cpu")
    assert loaded.prompts == {"web": "Search the web: "} and loaded.default_prompt_name == "web"
    assert np.isclose(loaded.predict(pair)[0], prompted, atol=1e-6)


class _Bag(InputModule):
    """A stand-in input module: a fixed-size vector per pair."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(4))

    def preprocess(self, inputs: list[Any], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        return {"lengths": torch.tensor([[float(len(a)), float(len(b)), 1.0, 1.0] for a, b in inputs])}

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        return {**features, "sentence_embedding": features["lengths"] * self.weight}


@pytest.mark.parametrize("out_features", [1, 3])
def test_module_stack_takes_labels_from_the_scores_dense(out_features):
    model = CrossEncoder(modules=[_Bag(), Dense(4, out_features, activation_function=None,
                                                module_output_name="scores")], device="cpu")
    assert model.num_labels == out_features and model.model is None and model.config is None
    assert isinstance(model.activation_fn, torch.nn.Sigmoid if out_features == 1 else torch.nn.Identity)
    expected = (2,) if out_features == 1 else (2, out_features)
    assert model.predict([("a", "bb"), ("ccc", "d")]).shape == expected
    assert CrossEncoder(modules=[_Bag(), Dense(4, 7)], device="cpu").num_labels == 1  # no "scores" output


def test_default_activation_function_is_deprecated(ce):
    with pytest.warns(DeprecationWarning, match="`default_activation_function` property was renamed"):
        assert ce.default_activation_function is ce.activation_fn


def test_collator_returns_raw_columns_prompt_and_task():
    collate = CrossEncoderDataCollator(preprocess_fn=None, prompts={"a": "P: "}, router_mapping={"a": "rerank"})
    rows = [{"q": "q1", "d": "d1", "label": 1.0, "dataset_name": "a"}]
    assert collate(rows) == {"dataset_name": "a", "label": torch.tensor([1.0]), "prompt": "P: ", "task": "rerank",
                             "q": ["q1"], "d": ["d1"]}
    batch = collate([{"q": "q1", "d": "d1", "label": 1.0}], dataset_name="a")  # the trainer's call
    assert batch.features == [["q1"], ["d1"]] and batch.prompt == "P: " and batch.task == "rerank"
    listwise = collate([{"q": "q1", "docs": ["x", "y"], "labels": [1, 0]}])
    assert [t.tolist() for t in listwise["label"]] == [[1, 0]]
    with pytest.raises(ValueError, match="CrossEncoder prompts cannot be per-column"):
        CrossEncoderDataCollator(preprocess_fn=None, prompts={"a": {"q": "P: "}})
    with pytest.raises(ValueError, match="CrossEncoder router_mapping cannot be per-column"):
        CrossEncoderDataCollator(preprocess_fn=None, router_mapping={"a": {"q": "rerank"}})


def test_losses_take_the_prompt(ce, monkeypatch):
    from embedkit.cross_encoder.losses import BinaryCrossEntropyLoss, ListNetLoss

    labels = torch.tensor([1.0, 0.0])
    bce = BinaryCrossEntropyLoss(ce)
    inputs = [["q", "q"], ["relevant doc", "other doc"]]
    assert not torch.isclose(bce(inputs, labels), bce(inputs, labels, prompt="Rerank: ", task=None))
    seen = []
    preprocess = ce.preprocess
    monkeypatch.setattr(ce, "preprocess", lambda pairs, **kw: seen.append(kw.get("prompt")) or preprocess(pairs, **kw))
    ListNetLoss(ce)([["q"], [["relevant doc", "other doc"]]], [labels], prompt="Rerank: ")
    assert seen and set(seen) == {"Rerank: "}


def test_5x_module_paths():
    from embedkit.cross_encoder.losses.binary_cross_entropy import BinaryCrossEntropyLoss
    from embedkit.cross_encoder.losses.cross_entropy import CrossEntropyLoss
    from embedkit.cross_encoder.losses.list_mle import ListMLELoss
    from embedkit.cross_encoder.losses.mse import MSELoss
    from embedkit.cross_encoder.losses.rank_net import RankNetLoss
    from embedkit.cross_encoder.util import cross_encoder_init_args_decorator

    assert {c.__name__ for c in (BinaryCrossEntropyLoss, CrossEntropyLoss, ListMLELoss, MSELoss, RankNetLoss)} == {
        "BinaryCrossEntropyLoss", "CrossEntropyLoss", "ListMLELoss", "MSELoss", "RankNetLoss"}

    @cross_encoder_init_args_decorator
    def init(self: Any, **kwargs: Any) -> dict[str, Any]:
        return kwargs

    assert init(None, tokenizer_args={"x": 1}, config_kwargs=None, classifier_dropout=0.1) == {
        "tokenizer_kwargs": {"x": 1}, "config_kwargs": {"classifier_dropout": 0.1}}


def test_legacy_fit_trains_on_input_examples(tmp_path, monkeypatch):
    from embedkit.data import InputExample

    monkeypatch.chdir(tmp_path)  # without output_path, the run's log goes to ./checkpoints/model
    model = CrossEncoder(FIX / "ce_bert1", device="cpu")
    before = model.predict([("a query", "a relevant answer")])[0]
    examples = [InputExample(texts=["a query", "a relevant answer"], label=1.0),
                InputExample(texts=["a query", "something else"], label=0.0)] * 4
    model.fit(examples, epochs=1, warmup_steps=0, optimizer_params={"lr": 1e-3}, show_progress_bar=False,
              output_path=str(tmp_path / "out"))
    assert model.predict([("a query", "a relevant answer")])[0] != before
    assert (tmp_path / "out" / "config_sentence_transformers.json").is_file()
    model.fit(examples[:2], loss_fct=torch.nn.MSELoss(), activation_fct=torch.nn.Sigmoid(), show_progress_bar=False)


def test_legacy_fit_evaluates_every_epoch_and_takes_any_optimizer(tmp_path):
    """CrossEncoder.fit as sentence-transformers runs it: the evaluator at each epoch's end (CSV under
    output_path/eval), callback(score, epoch, steps) after it, the best model saved, optimizer_class(**params)."""
    from embedkit.cross_encoder.evaluation import CrossEncoderCorrelationEvaluator
    from embedkit.data import InputExample

    model = CrossEncoder(FIX / "ce_bert1", device="cpu")
    pairs = [("a query", "a relevant answer"), ("a query", "something else"), ("cats", "a cat"), ("cats", "cars")]
    examples = [InputExample(texts=list(pair), label=label) for pair, label in zip(pairs, [1.0, 0.0, 1.0, 0.0])]
    evaluator = CrossEncoderCorrelationEvaluator(pairs, [1.0, 0.0, 1.0, 0.0], name="dev")
    seen, built = [], []

    class RecordingSGD(torch.optim.SGD):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    model.fit(examples, evaluator=evaluator, epochs=2, warmup_steps=0, optimizer_class=RecordingSGD,
              optimizer_params={"lr": 0.01, "momentum": 0.5}, output_path=str(tmp_path / "out"),
              show_progress_bar=False, callback=lambda score, epoch, steps: seen.append((epoch, steps)))
    assert [round(e, 2) for e, _ in seen] == [1.0, 2.0]
    assert len(built) == 1 and built[0].defaults["momentum"] == 0.5
    rows = (tmp_path / "out" / "eval" / "CrossEncoderCorrelationEvaluator_dev_results.csv").read_text().splitlines()
    assert len(rows) == 3
    assert (tmp_path / "out" / "config.json").is_file()


def test_a_folder_naming_a_custom_module_class_is_refused_as_custom_code(tmp_path):
    """As for SentenceTransformer: a modules.json naming a class outside sentence-transformers is refused with the
    "custom code is never run" message (it said the folder must start with a root Transformer)."""
    import json
    import shutil

    shutil.copytree(FIX / "ce_bert1", tmp_path / "m")
    (tmp_path / "m" / "modules.json").write_text(json.dumps(
        [{"idx": 0, "name": "0", "path": "", "type": "mypackage.CustomTransformer", "kwargs": ["task"]}]))
    with pytest.raises(ValueError, match="module type 'mypackage.CustomTransformer' is not supported by embedkit "
                                         "\\(custom code is never run\\)"):
        CrossEncoder(str(tmp_path / "m"))


def test_base_model_helpers_every_model_type_has(ce):
    """sentence-transformers 6.x puts dtype, get_max_seq_length and get_model_kwargs on its BaseModel: a
    CrossEncoder has them too, and so do its network (``ce.model.dtype``) and a causal-LM reranker's."""
    assert ce.dtype == torch.float32 and ce.model.dtype == torch.float32
    assert ce.get_max_seq_length() == ce.max_length and ce.get_model_kwargs() == []
    half = CrossEncoder(FIX / "ce_bert1", device="cpu", model_kwargs={"torch_dtype": torch.bfloat16})
    assert half.dtype == half.model.dtype == torch.bfloat16
    causal = CrossEncoder(FIX / "qwen3_reranker_lm", device="cpu")
    assert causal.dtype == torch.float32 and causal.pipeline[0].auto_model.dtype == torch.float32
