"""CSV files written by the evaluators: same file names, headers, line endings and values as sentence-transformers.

Golden files: tests/fixtures/evaluation/golden_csv.json (ST 6.2, hash model, one call with epoch=1, steps=5).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.evaluation.test_golden_metrics import GOLDEN, SPECS, build, load

GOLDEN_CSV = json.loads((Path(__file__).parents[1] / "fixtures/evaluation/golden_csv.json").read_text("utf-8"))


def _cells(text: str) -> list[list[str]]:
    return [line.split(",") for line in text.splitlines()]


@pytest.mark.parametrize("name", sorted(GOLDEN_CSV))
def test_csv_files_match_st(name, tmp_path):
    kind, kwargs = SPECS[name]
    evaluator = build(kind, kwargs, teacher=load("hash", teacher=True))
    evaluator(load("hash"), output_path=str(tmp_path), epoch=1, steps=5)
    written = {p.name: p.read_bytes().decode("utf-8") for p in sorted(tmp_path.iterdir())}
    expected = GOLDEN_CSV[name]
    assert sorted(written) == sorted(expected)
    for file_name, text in expected.items():
        got, want = written[file_name], text
        assert got.splitlines()[0] == want.splitlines()[0], file_name  # header, verbatim
        assert ("\r\n" in got) == ("\r\n" in want), f"{file_name}: line endings differ"
        (_, got_row), (_, want_row) = _cells(got), _cells(want)
        assert got_row[:2] == want_row[:2] == ["1", "5"]
        assert [float(v) for v in got_row[2:]] == pytest.approx([float(v) for v in want_row[2:]], abs=1e-9)


def test_second_call_appends_a_row(tmp_path):
    evaluator = build(*SPECS["sts_default"])
    evaluator(load("hash"), output_path=str(tmp_path), epoch=0, steps=10)
    evaluator(load("hash"), output_path=str(tmp_path), epoch=1, steps=20)
    lines = (tmp_path / "similarity_evaluation_results.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "epoch,steps,cosine_pearson,cosine_spearman"
    assert [line.split(",")[:2] for line in lines[1:]] == [["0", "10"], ["1", "20"]]


def test_write_csv_false_writes_nothing(tmp_path):
    kind, kwargs = SPECS["mrpc_default"]
    evaluator = build(kind, {**kwargs, "write_csv": False})
    evaluator(load("hash"), output_path=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_ir_predictions_file(tmp_path):
    kind, kwargs = SPECS["ir_default"]
    evaluator = build(kind, {**kwargs, "write_predictions": True, "name": "sf"})
    evaluator(load("hash"), output_path=str(tmp_path))
    path = tmp_path / "Information-Retrieval_evaluation_sf_predictions_cosine.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(evaluator.queries_ids) and rows[0]["query_id"] == evaluator.queries_ids[0]
    hits = rows[0]["results"]
    assert len(hits) == 100 and set(hits[0]) == {"corpus_id", "score"}
    assert all((-a["score"], a["corpus_id"]) <= (-b["score"], b["corpus_id"]) for a, b in zip(hits, hits[1:]))
    assert GOLDEN["hash/ir_default"]["metrics"]["cosine_ndcg@10"] > 0
