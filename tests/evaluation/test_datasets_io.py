"""embedkit.datasets_io readers on the committed slices (and the full shared data when present)."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedkit.datasets_io import load_beir, load_pair_labels, load_sts

DATA = Path(__file__).parents[1] / "fixtures/evaluation/data"
SHARED = Path("/work/shared/data")


def test_load_beir_slice():
    corpus, queries, qrels = load_beir(DATA / "scifact_mini")
    assert len(corpus) == 201 and len(queries) == 30  # the 5 queries without qrels are dropped
    assert set(qrels) == set(queries) and all(qrels.values())
    first = next(iter(corpus.values()))
    assert not first.startswith(" ")
    no_title, _, _ = load_beir(DATA / "scifact_mini", include_title=False)
    assert all(no_title[c].strip() in corpus[c] for c in corpus)


def test_load_beir_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="corpus.jsonl"):
        load_beir(tmp_path)
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "title": "", "text": "x"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "y"}\n')
    with pytest.raises(FileNotFoundError, match="no qrels"):
        load_beir(tmp_path)
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n")
    with pytest.raises(ValueError, match="ids not found"):
        load_beir(tmp_path)
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td1\t0\n")
    assert load_beir(tmp_path)[2] == {"q1": {"d1"}}
    with pytest.raises(FileNotFoundError):
        load_beir(tmp_path, split="dev")  # a bare qrels.tsv is the test split


def test_load_sts_and_pairs():
    s1, s2, scores = load_sts(DATA / "stsb_test_120.tsv")
    assert len(s1) == len(s2) == len(scores) == 120 and 0.0 <= min(scores) and max(scores) <= 1.0
    raw = load_sts(DATA / "stsb_test_120.tsv", normalize=False)[2]
    assert raw[0] == pytest.approx(scores[0] * 5)
    m1, m2, labels = load_pair_labels(DATA / "mrpc_test_120.tsv")
    assert len(labels) == 120 and set(labels) == {0, 1}
    with pytest.raises(ValueError, match="none of the columns"):
        load_pair_labels(DATA / "snli_dev_triplets.tsv")


def test_load_pair_labels_with_label_map(tmp_path):
    path = tmp_path / "nli.tsv"
    path.write_text('premise\thypothesis\tlabel\n"Quoted start\tb\tentailment\nc\td\tneutral\n', encoding="utf-8")
    s1, _, labels = load_pair_labels(path, {"entailment": 0, "neutral": 1})
    assert s1[0] == '"Quoted start' and labels == [0, 1]
    with pytest.raises(ValueError, match="not in label_map"):
        load_pair_labels(path, {"entailment": 0})


@pytest.mark.skipif(not SHARED.is_dir(), reason="/work/shared/data not available")
def test_full_shared_data_counts():
    corpus, queries, qrels = load_beir(SHARED / "beir/scifact")
    assert (len(corpus), len(queries), sum(map(len, qrels.values()))) == (5183, 300, 339)
    assert len(load_sts(SHARED / "stsb/test.tsv")[2]) == 1379
    labels = load_pair_labels(SHARED / "mrpc/test.tsv")[2]
    assert (len(labels), sum(labels)) == (1725, 1147)
