"""Collator: column order, labels, prompts at every level, router mapping."""

from __future__ import annotations

import pytest
import torch

from embedkit.base.data_collator import DataCollator


def echo(texts, **kwargs):
    return {"texts": list(texts), **kwargs}


ROWS = [{"query": "q1", "answer": "a1", "score": 0.5}, {"query": "q2", "answer": "a2", "score": 1.0}]


def test_column_order_gives_inputs_and_first_label_column_gives_labels():
    rows = [{"b": "x", "a": "y", "label": 1, "score": 0.3}]
    batch = DataCollator(echo)(rows)
    assert batch.columns == ["b", "a", "score"] and batch.features[0]["texts"] == ["x"]
    assert torch.equal(batch.labels, torch.tensor([1]))


def test_prompts_string_per_column_per_dataset_nested():
    assert DataCollator(echo, prompts="p: ")(ROWS).features[1]["prompt"] == "p: "
    per_column = DataCollator(echo, prompts={"query": "query: "})(ROWS)
    assert [f["prompt"] for f in per_column.features] == ["query: ", None]
    per_dataset = DataCollator(echo, prompts={"nli": "n: ", "sts": "s: "})(ROWS, dataset_name="sts")
    assert [f["prompt"] for f in per_dataset.features] == ["s: ", "s: "]
    nested = DataCollator(echo, prompts={"nli": {"answer": "doc: "}})(ROWS, dataset_name="nli")
    assert [f["prompt"] for f in nested.features] == [None, "doc: "]
    with pytest.raises(ValueError, match="nested dictionary"):
        DataCollator(echo, prompts={"nli": {"answer": "doc: "}})(ROWS)


def test_router_mapping_passes_task():
    batch = DataCollator(echo, router_mapping={"query": "query", "answer": "document"})(ROWS)
    assert [f["task"] for f in batch.features] == ["query", "document"]
    nested = DataCollator(echo, router_mapping={"d": {"query": "query"}})(ROWS, dataset_name="d")
    assert nested.features[0]["task"] == "query" and nested.features[1]["task"] is None


def test_raw_values_for_cross_encoders_and_listwise_labels():
    rows = [{"q": "a", "docs": ["x", "y"], "labels": [1, 0]}, {"q": "b", "docs": ["z"], "labels": [1]}]
    batch = DataCollator(None)(rows)
    assert batch.features == [["a", "b"], [["x", "y"], ["z"]]]
    assert [t.tolist() for t in batch.labels] == [[1, 0], [1]]


def test_non_text_cell_names_the_column():
    from embedkit.base.modules.transformer import check_text_inputs

    def preprocess(texts, **kwargs):
        check_text_inputs(texts)
        return {}

    with pytest.raises(TypeError, match=r"column 'answer': input 1 has type int"):
        DataCollator(preprocess)([{"query": "q", "answer": "a"}, {"query": "q", "answer": 3}])


def test_base_collator_returns_prefixed_dict_with_task_and_max_length():
    from embedkit.base.data_collator import BaseDataCollator

    calls = []

    def preprocess(texts, prompt=None, task=None, **extra):
        calls.append(extra)
        return {"ids": torch.ones(len(texts), 2)}

    collate = BaseDataCollator(preprocess, router_mapping={"query": "query"}, max_length={"query": 8})
    batch = collate([{"query": "q", "answer": "a", "score": 1.0, "dataset_name": "d"}])
    assert sorted(batch) == ["answer_ids", "dataset_name", "label", "query_ids", "query_task"]
    assert batch["query_task"] == "query" and calls == [{"max_length": 8}, {}]
    assert BaseDataCollator(preprocess)([]) == {}
