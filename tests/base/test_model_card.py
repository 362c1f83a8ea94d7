"""Model cards: the card data on the three model types, the README written on save, the trainer's records."""

from __future__ import annotations

import pytest

from embedkit import CrossEncoder, SentenceTransformer, SparseEncoder
from embedkit.base.model import BaseModel
from embedkit.base.model_card import (
    BaseModelCardData,
    generate_model_card,
    make_markdown_table,
)
from embedkit.base.trainer import SentenceTransformerTrainer
from embedkit.cross_encoder.model_card import CrossEncoderModelCardData
from embedkit.data import Dataset
from embedkit.sentence_transformer.model_card import SentenceTransformerModelCardData
from tests.training.helpers import CosineMSE, sts_rows, tiny_model


def _front_matter(card: str) -> str:
    assert card.startswith("---\n")
    return card.split("\n---\n", 1)[0]


def test_card_data_defaults_and_custom_data_is_kept():
    data = SentenceTransformerModelCardData(language="de", license="mit", model_id="org/name")
    model = tiny_model()
    assert isinstance(model.model_card_data, SentenceTransformerModelCardData)
    assert model.model_card_data.model is model
    custom = SentenceTransformer(modules=list(model), device="cpu", model_card_data=data)
    assert custom.model_card_data is data and data.model is custom and data.language == ["de"]


def test_model_id_without_organisation_is_dropped(caplog):
    assert BaseModelCardData(model_id="no-slash").model_id is None
    assert "should include the organization" in caplog.text


def test_readme_written_on_save_has_front_matter_and_sections(tmp_path):
    model = tiny_model()
    model.model_card_data.local_files_only = True
    model.model_card_data.generate_widget_examples = False
    model.model_card_data.set_language("en")
    model.model_card_data.set_license("apache-2.0")
    model.save(tmp_path / "out", model_name="someone/tiny")
    card = (tmp_path / "out" / "README.md").read_text()
    front = _front_matter(card)
    for line in ("- en", "license: apache-2.0", "library_name: sentence-transformers",
                 "pipeline_tag: sentence-similarity", "- dense"):
        assert line in front
    assert 'model = SentenceTransformer("someone/tiny")' in card
    assert "## Model Details" in card and "### Full Model Architecture" in card
    assert "\n\n\n" not in card
    assert not (tmp_path / "plain").exists()
    model.save(tmp_path / "plain", create_model_card=False)
    assert not (tmp_path / "plain" / "README.md").exists()


def test_trainer_records_datasets_losses_and_tag():
    model = tiny_model()
    model.model_card_data.local_files_only = True
    model.model_card_data.generate_widget_examples = False
    SentenceTransformerTrainer(model, train_dataset=Dataset.from_dict(sts_rows(6)), loss=CosineMSE(model))
    data = model.model_card_data
    assert "generated_from_trainer" in data.tags and "dataset_size:6" in data.tags
    assert [c for c in data.train_datasets[0]["columns"]] == ["<code>sentence1</code>", "<code>sentence2</code>",
                                                              "<code>score</code>"]
    assert data.train_datasets[0]["stats"]["score"]["dtype"] == "float"
    card = generate_model_card(model)
    assert "#### Unnamed Dataset" in card and "<code>tests.training.helpers.CosineMSE</code>" in card
    assert "| details  |" in card and "\n\n\n" not in card


def test_hub_lookups_replaced_on_the_model_card_module_are_the_ones_used(monkeypatch):
    # sentence-transformers' tests replace these two module attributes; the card code in the sibling modules
    # (model_card_datasets, model_card_training, ...) must reach the Hub only through them, read when called.
    from types import SimpleNamespace

    calls = []

    def model_info(model_id, *args, **kwargs):
        calls.append(("model", model_id))
        return SimpleNamespace(id=model_id, sha="c" * 40)

    def dataset_info(dataset_id, *args, **kwargs):
        calls.append(("dataset", dataset_id))
        return SimpleNamespace(id=dataset_id, cardData={"language": ["nl"]})

    monkeypatch.setattr("embedkit.base.model_card.get_model_info", model_info)
    monkeypatch.setattr("embedkit.base.model_card.get_dataset_info", dataset_info)
    model = tiny_model()
    model[0].auto_model.config._name_or_path = "embedkit-test/not-on-the-hub-bert"
    data = model.model_card_data
    data.generate_widget_examples = False
    data.train_datasets = [{"id": "embedkit-test/not-on-the-hub-sts"}]
    SentenceTransformerTrainer(model, train_dataset=Dataset.from_dict(sts_rows(6)), loss=CosineMSE(model))
    assert calls == [("dataset", "embedkit-test/not-on-the-hub-sts")]
    assert data.train_datasets[0]["id"] == "embedkit-test/not-on-the-hub-sts" and data.language == ["nl"]
    front = _front_matter(generate_model_card(model))
    assert ("model", "embedkit-test/not-on-the-hub-bert") in calls
    assert data.base_model == "embedkit-test/not-on-the-hub-bert" and data.base_model_revision == "c" * 40
    assert "base_model: embedkit-test/not-on-the-hub-bert" in front and "- embedkit-test/not-on-the-hub-sts" in front


def test_untrained_model_keeps_its_original_card(tmp_path):
    model = tiny_model()
    model.save(tmp_path / "first")
    reloaded = SentenceTransformer(str(tmp_path / "first"), device="cpu")
    original = (tmp_path / "first" / "README.md").read_text()
    assert reloaded._model_card_text == original
    reloaded.save(tmp_path / "second")
    assert (tmp_path / "second" / "README.md").read_text() == original


def test_cross_encoder_and_sparse_encoder_cards(tmp_path):
    from pathlib import Path

    import embedkit

    folder = Path(embedkit.__file__).parent.parent / "tests" / "fixtures" / "ce_bert1"
    ce = CrossEncoder(folder, device="cpu", model_card_data=CrossEncoderModelCardData(local_files_only=True))
    assert isinstance(ce, BaseModel) and ce.model_card_data.pipeline_tag == "text-ranking"
    ce.model_card_data.generate_widget_examples = False
    card = generate_model_card(ce)
    assert "pipeline_tag: text-ranking" in card and "model.rank(" in card
    assert "Number of Output Labels:** 1 label" in card

    sparse = SparseEncoder(modules=list(tiny_model()), device="cpu")
    assert type(sparse.model_card_data).__name__ == "SparseEncoderModelCardData"
    assert sparse.model_card_data.model is sparse


@pytest.mark.parametrize(("rows", "expected"), [([{"a": 1, "b": 0.123456}], "| 1 | 0.1235 |"), ([], "")])
def test_make_markdown_table(rows, expected):
    assert expected in make_markdown_table(rows)


def test_supports_and_module_class_refs():
    model = tiny_model()
    assert model.supports("text") and not model.supports("image") and not model.supports(("image", "text"))
    from embedkit.sentence_transformer.modules import Pooling

    assert model._load_module_class_from_ref("sentence_transformers.sentence_transformer.modules.Pooling") is Pooling
    with pytest.raises(ValueError, match="trust_remote_code"):
        model._load_module_class_from_ref("torch.nn.Linear")


def test_distinct_values_skips_repeats_and_stops_at_the_limit():
    from embedkit.base.model_card import BaseModelCardData
    from embedkit.base.model_card_examples import distinct_values

    card = BaseModelCardData(local_files_only=True)
    card._hash_asset = lambda value: None if value == "unhashable" else hash(value)
    rows = [{"doc": v} for v in ["a", "a", "unhashable", "unhashable", "b", "c", "d"]]
    assert distinct_values(card, rows, "doc") == ["a", "unhashable", "unhashable"]
    assert distinct_values(card, rows, "doc", limit=5) == ["a", "unhashable", "unhashable", "b", "c"]
    assert distinct_values(card, rows, "doc", limit=5, scan=3) == ["a", "unhashable"]
