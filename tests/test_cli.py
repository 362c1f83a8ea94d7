"""The command line: every subcommand on tiny fixtures, outputs checked against the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedkit import CrossEncoder, SentenceTransformer
from embedkit.cli import main
from embedkit.cli.search import reciprocal_rank_fusion
from embedkit.util import semantic_search

FIX = Path(__file__).parent / "fixtures"
TINY = str(FIX / "tiny_bert_v6")
STS = FIX / "evaluation" / "data" / "stsb_test_120.tsv"
BEIR = FIX / "evaluation" / "data" / "mrpc_retrieval"
CORPUS = ["The cat sits on the mat", "Stock markets fell sharply today", "A kitten naps in the sun",
          "The central bank raised interest rates", "Dogs love to play fetch"]


@pytest.fixture()
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    return path


def test_encode_npy_matches_python_api(tmp_path, capsys):
    out = tmp_path / "emb.npy"
    assert main(["encode", "first text", "second text", "--model", TINY, "--output", str(out), "--normalize"]) == 0
    expected = SentenceTransformer(TINY, device="cpu").encode(["first text", "second text"], normalize_embeddings=True)
    np.testing.assert_allclose(np.load(out), expected, atol=1e-6)


def test_encode_jsonl_field_and_tsv_column(tmp_path, capsys):
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"body": "alpha"}\n{"body": "beta"}\n', encoding="utf-8")
    assert main(["encode", "--file", str(jsonl), "--field", "body", "--model", TINY]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # tiny_bert_v6 ends in a 16-d Dense
    assert [r["text"] for r in rows] == ["alpha", "beta"] and len(rows[0]["embedding"]) == 16
    tsv = tmp_path / "in.tsv"
    tsv.write_text("1\tgamma\n2\tdelta\n", encoding="utf-8")
    assert main(["encode", "--file", str(tsv), "--column", "1", "--no-header", "--model", TINY]) == 0
    assert [json.loads(x)["text"] for x in capsys.readouterr().out.splitlines()] == ["gamma", "delta"]


def test_search_matches_semantic_search_and_reuses_saved_embeddings(corpus_file, tmp_path, capsys):
    saved = tmp_path / "corpus.npy"
    args = ["search", "--corpus", str(corpus_file), "--query", "a sleeping cat", "--query", "interest rates",
            "--top-k", "3", "--format", "jsonl", "--model", TINY, "--corpus-embeddings", str(saved)]
    assert main(args) == 0
    first = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert saved.is_file()
    model = SentenceTransformer(TINY, device="cpu")
    # the same calls as the CLI's (both queries in one call): this tiny model's scores differ in the 5th decimal
    # only, so a query encoded alone (other float rounding, ~1e-7) could order near-ties differently
    # (exact ties among them too, which semantic_search orders as torch.topk does)
    queries = model.encode_query(["a sleeping cat", "interest rates"], convert_to_tensor=True)
    hits = semantic_search(queries, model.encode_document(CORPUS, convert_to_tensor=True), top_k=3)
    for query, expected in zip(["a sleeping cat", "interest rates"], hits):
        got = [r for r in first if r["query"] == query]
        assert [r["corpus_id"] for r in got] == [h["corpus_id"] + 1 for h in expected]  # lines of the file
        np.testing.assert_allclose([r["score"] for r in got], [h["score"] for h in expected], atol=1e-6, rtol=0)
    assert main(args) == 0  # second run reads the .npy
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == first


def test_search_reencodes_embedding_file_without_description(corpus_file, tmp_path, capsys):
    stale = tmp_path / "stale.npy"
    np.save(stale, np.zeros((2, 16), dtype=np.float32))
    assert main(["search", "--corpus", str(corpus_file), "--query", "x", "--model", TINY,
                 "--corpus-embeddings", str(stale)]) == 0
    assert "re-encoding the corpus" in capsys.readouterr().err and np.load(stale).shape == (5, 16)


def test_search_with_rerank_orders_by_cross_encoder(corpus_file, capsys):
    ce_path = str(FIX / "ce_bert1")
    assert main(["search", "--corpus", str(corpus_file), "--query", "a sleeping cat", "--top-k", "5",
                 "--format", "jsonl", "--model", TINY, "--rerank", ce_path]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ce = CrossEncoder(ce_path, device="cpu")
    expected = [h["corpus_id"] + 1 for h in ce.rank("a sleeping cat", CORPUS)]  # corpus_id: line in the file
    assert [r["corpus_id"] for r in rows] == expected
    np.testing.assert_allclose([r["score"] for r in rows], [h["score"] for h in ce.rank("a sleeping cat", CORPUS)],
                               atol=1e-5)


def test_reciprocal_rank_fusion():
    fused = reciprocal_rank_fusion([[0, 1, 2], [2, 0]], k=60)
    assert [d for d, _ in fused] == [0, 2, 1]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_evaluate_sts_matches_evaluator(capsys):
    from embedkit.datasets_io import load_sts
    from embedkit.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    assert main(["evaluate", str(STS), "--model", TINY, "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    s1, s2, scores = load_sts(STS)
    expected = EmbeddingSimilarityEvaluator(s1, s2, scores, name=STS.stem, batch_size=32)(
        SentenceTransformer(TINY, device="cpu"))
    assert printed["metrics"] == pytest.approx(expected, abs=1e-9)
    assert printed["primary_metric"] == f"{STS.stem}_spearman_cosine"


def test_evaluate_beir_table(capsys):
    assert main(["evaluate", str(BEIR), "--model", TINY]) == 0
    out = capsys.readouterr().out
    assert "mrpc_retrieval_cosine_ndcg@10" in out and "<- primary" in out


def test_train_from_json_config(tmp_path, capsys):
    config = {
        "model": TINY,
        "train_data": {"path": str(STS), "columns": ["sentence1", "sentence2", "score"]},
        "loss": {"name": "CoSENTLoss", "kwargs": {"scale": 20.0}},
        "evaluator": {"data": str(STS)},
        "args": {"max_steps": 2, "per_device_train_batch_size": 8, "save_strategy": "no", "disable_tqdm": True,
                 "eval_strategy": "steps", "eval_steps": 2},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    assert main(["train", str(path), "--output-dir", str(tmp_path / "out")]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["global_step"] == 2
    trained = SentenceTransformer(result["saved"], device="cpu")
    before = SentenceTransformer(TINY, device="cpu")
    assert np.abs(trained.encode(["x y"]) - before.encode(["x y"])).max() > 1e-6


@pytest.mark.parametrize("config, message", [
    ({"train_data": "x.tsv", "bogus": 1}, "unknown keys"),
    ({"loss": "CoSENTLoss"}, "'train_data' is required"),
    ({"train_data": str(STS), "loss": "NoSuchLoss", "args": {"max_steps": 1}}, "unknown loss 'NoSuchLoss'"),
    ({"train_data": {"path": str(STS), "columns": ["nope"]}, "args": {"max_steps": 1}}, "no columns"),
    ({"train_data": str(STS), "args": {"not_an_argument": 1}},
     "args: unknown training argument(s) ['not_an_argument']"),
    ({"train_data": "missing.tsv", "args": {"max_steps": 1}}, "train_data: no such file:"),
    ({"train_data": str(STS), "args": {"learning_rate": "abc"}}, "learning_rate='abc' must be a number"),
])
def test_train_config_errors_are_one_line(tmp_path, capsys, config, message):
    config = {"model": TINY, **config}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    assert main(["train", str(path), "--output-dir", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_info_positional_model(capsys):
    assert main(["info", TINY]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["embedding_dimension"] == SentenceTransformer(TINY, device="cpu").get_embedding_dimension()


@pytest.mark.parametrize("argv, message", [
    (["encode", "--file", "/no/such/file.txt", "--model", TINY], "no such file"),
    (["encode", "--model", TINY], "no texts"),
    (["evaluate", "/no/such/folder", "--model", TINY], "no such file or folder"),
    (["search", "--corpus", "/no/such.txt", "--query", "q", "--model", TINY], "no such file"),
])
def test_errors_are_one_line_with_nonzero_exit(capsys, argv, message):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_corpus_that_is_not_a_regular_file_is_named_as_such(capsys):
    assert main(["search", "--corpus", "/dev/null", "--query", "q", "--model", TINY]) == 1
    err = capsys.readouterr().err.strip()
    assert "/dev/null is not a regular file" in err and len(err.splitlines()) == 1
