"""``embedkit encode`` / ``embedkit search``: input files, checks before any model loads, the corpus-embeddings
cache and its description file, TSV escaping, line-number corpus ids, and the --rerank model check (issue #19)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embedkit.cli import main
from embedkit.cli.inputs import read_numbered_texts, read_text_file

FIX = Path(__file__).parents[1] / "fixtures"
TINY = str(FIX / "tiny_bert_v6")
OTHER_16D = str(FIX / "tiny_bert_classic")  # another model with 16-d embeddings
CROSS = str(FIX / "ce_bert1")
NO_MODEL = "/no/such/model/folder"  # a check that runs before the model loads fails first, with its own message
CORPUS = ["The cat sits on the mat", "Stock markets fell sharply today", "A kitten naps in the sun",
          "The central bank raised interest rates", "Dogs love to play fetch"]


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.fixture()
def corpus_file(tmp_path: Path) -> Path:
    return _write(tmp_path / "corpus.txt", "\n".join(CORPUS) + "\n")


def _error(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    """The one stderr line of a failing command (exit code 1)."""
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("embedkit: error:"), err
    return err


def _search(capsys: pytest.CaptureFixture, corpus: Path, *extra: str, query: str = "a sleeping cat"
            ) -> tuple[list[dict], str]:
    assert main(["search", "--corpus", str(corpus), "--query", query, "--format", "jsonl", "--model", TINY,
                 *extra]) == 0
    captured = capsys.readouterr()
    return [json.loads(line) for line in captured.out.splitlines()], captured.err


# --- --quantize int8: every command's models run with int8 weights ------------------------------------------------

def test_encode_quantize_int8_is_close_to_fp32_but_not_equal(tmp_path, capsys):
    texts = CORPUS
    fp32, int8 = tmp_path / "fp32.npy", tmp_path / "int8.npy"
    assert main(["encode", *texts, "--model", TINY, "--output", str(fp32)]) == 0
    assert main(["encode", *texts, "--model", TINY, "--output", str(int8), "--quantize", "int8"]) == 0
    a, b = np.load(fp32), np.load(int8)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() >= 0.99 and not np.array_equal(a, b)  # quantized, and still close


def test_search_quantize_int8_does_not_reuse_fp32_corpus_embeddings(corpus_file, tmp_path, capsys, monkeypatch):
    from embedkit.base.model import BaseModel

    quantized = []  # the class of every model the command quantizes
    original = BaseModel.quantize
    monkeypatch.setattr(BaseModel, "quantize",
                        lambda self, *args, **kwargs: (quantized.append(type(self).__name__),
                                                       original(self, *args, **kwargs))[1])
    cache = str(tmp_path / "emb.npy")
    fp32, _ = _search(capsys, corpus_file, "--corpus-embeddings", cache)
    int8, err = _search(capsys, corpus_file, "--corpus-embeddings", cache, "--quantize", "int8", "--rerank", CROSS,
                        "--sparse", str(FIX / "se_bert_v6"))
    assert "not reusing" in err and "quantized differ" in err
    assert sorted(quantized) == ["CrossEncoder", "SentenceTransformer", "SparseEncoder"]  # every model of the search
    assert json.loads(Path(cache + ".json").read_text())["quantized"] == "int8"
    again, err = _search(capsys, corpus_file, "--corpus-embeddings", cache, "--quantize", "int8", "--rerank", CROSS,
                         "--sparse", str(FIX / "se_bert_v6"))
    assert f"reusing {cache}" in err and again == int8
    back, err = _search(capsys, corpus_file, "--corpus-embeddings", cache)  # nor the reverse
    assert "not reusing" in err and "quantized differ" in err and back == fp32
    assert [r["corpus_id"] for r in int8] and len(int8) == len(fp32)


def test_quantize_accepts_only_int8(capsys):
    assert main(["encode", "a", "--model", TINY, "--quantize", "int4"]) == 2
    assert "invalid choice" in capsys.readouterr().err


# --- --corpus-embeddings: reused only when its description matches ---------------------------------------------

def test_corpus_embeddings_reencoded_when_a_line_changes(corpus_file, tmp_path, capsys):
    cache = str(tmp_path / "emb.npy")
    _search(capsys, corpus_file, "--corpus-embeddings", cache, "--top-k", "5")
    assert Path(cache + ".json").is_file()
    edited = CORPUS[:2] + ["Interest rates were raised by the central bank"] + CORPUS[3:]
    _write(corpus_file, "\n".join(edited) + "\n")
    cached, err = _search(capsys, corpus_file, "--corpus-embeddings", cache, "--top-k", "5")
    assert "not reusing" in err and "corpus texts differ" in err
    fresh, _ = _search(capsys, corpus_file, "--top-k", "5")
    assert cached == fresh  # the new line with its own score, not the old line's


def test_corpus_embeddings_reused_only_for_the_same_model(corpus_file, tmp_path, capsys):
    cache = str(tmp_path / "emb.npy")
    first, err = _search(capsys, corpus_file, "--corpus-embeddings", cache)
    assert "saved corpus embeddings" in err
    again, err = _search(capsys, corpus_file, "--corpus-embeddings", cache)
    assert again == first and f"reusing {cache}" in err
    assert main(["search", "--corpus", str(corpus_file), "--query", "a sleeping cat", "--format", "jsonl",
                 "--model", OTHER_16D, "--corpus-embeddings", cache]) == 0
    other = capsys.readouterr()
    assert "different model" in other.err
    assert main(["search", "--corpus", str(corpus_file), "--query", "a sleeping cat", "--format", "jsonl",
                 "--model", OTHER_16D]) == 0
    assert other.out == capsys.readouterr().out


def test_corpus_embeddings_follow_the_model_files_not_the_spelling_of_the_path(corpus_file, tmp_path, capsys,
                                                                              monkeypatch):
    model = tmp_path / "model"
    shutil.copytree(TINY, model)
    cache = str(tmp_path / "emb.npy")
    argv = ["search", "--corpus", str(corpus_file), "--query", "cat", "--corpus-embeddings", cache, "--model"]
    assert main([*argv, str(model)]) == 0
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "./model"]) == 0
    assert "reusing" in capsys.readouterr().err
    weights = model / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # retrained in place
    assert main([*argv, str(model)]) == 0
    assert "model files changed" in capsys.readouterr().err


@pytest.mark.parametrize("content, reason", [
    (None, "no emb.npy.json"),  # a file from an older run: no description beside it
    (np.zeros(5, dtype=np.float32), "shape (5,)"),
    (np.zeros((5, 8), dtype=np.float32), "shape (5, 8)"),
    (b"not a numpy file", "cannot be read"),
])
def test_unusable_corpus_embeddings_are_reencoded(corpus_file, tmp_path, capsys, content, reason):
    cache = str(tmp_path / "emb.npy")
    expected, _ = _search(capsys, corpus_file, "--corpus-embeddings", cache)
    if content is None:
        os.remove(cache + ".json")
    elif isinstance(content, bytes):
        _write(Path(cache), content)
    else:
        np.save(cache, content)
    rows, err = _search(capsys, corpus_file, "--corpus-embeddings", cache)
    assert reason in err and "re-encoding" in err and "embeddings for" not in err
    assert rows == expected and np.load(cache).shape == (5, 16)


# --- checks before any model loads (NO_MODEL would fail later with another message) ------------------------------

@pytest.mark.parametrize("extra, message", [
    (["--query", "   "], "--query 2 is empty"),
    (["--query", ""], "--query 2 is empty"),
    (["--corpus-embeddings", "/no/such/folder/e.npy"], "the folder /no/such/folder does not exist"),
    (["--corpus-embeddings", "emb.bin"], "must end in .npy"),
    (["--rerank", TINY], "is a SentenceTransformer, not a CrossEncoder"),
    (["--rerank", str(FIX / "tiny_bert_hf")], "BertForMaskedLM (no sequence classification head)"),
    (["--rerank", "/no/such/reranker"], "/no/such/reranker"),
])
def test_search_checks_inputs_before_loading_the_model(corpus_file, capsys, extra, message):
    err = _error(capsys, ["search", "--corpus", str(corpus_file), "--query", "q", "--model", NO_MODEL, *extra])
    assert message in err


@pytest.mark.parametrize("command, option, value", [
    ("search", "--rrf-k", "-1"), ("search", "--rrf-k", "0"), ("search", "--top-k", "0"),
    ("search", "--candidates", "-3"), ("search", "--batch-size", "0"), ("encode", "--batch-size", "0"),
    ("evaluate", "--batch-size", "-2"), ("serve", "--port", "70000"), ("serve", "--max-batch-size", "0"),
    ("serve", "--max-batch-tokens", "-1"), ("serve", "--port", "x"),
])
def test_bad_option_values_are_usage_errors(corpus_file, capsys, command, option, value):
    """A value an option cannot take is a usage error (exit code 2, the sub-command's one line), as a value of the
    wrong type is, before anything loads."""
    argv = {"search": ["search", "--corpus", str(corpus_file), "--query", "q"], "encode": ["encode", "x"],
            "evaluate": ["evaluate", str(corpus_file)], "serve": ["serve"]}[command]
    assert main([*argv, "--model", NO_MODEL, option, value]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"embedkit {command}: error: argument {option}:")
    assert ("invalid int value" if value == "x" else value) in err


def test_search_checks_the_embeddings_path_is_not_a_folder(corpus_file, tmp_path, capsys):
    folder = tmp_path / "emb.npy"
    folder.mkdir()
    err = _error(capsys, ["search", "--corpus", str(corpus_file), "--query", "q", "--model", NO_MODEL,
                          "--corpus-embeddings", str(folder)])
    assert "is a directory" in err


@pytest.mark.parametrize("output, message", [
    ("/no/such/folder/out.npy", "the folder /no/such/folder does not exist"),
    ("{tmp}", "is a directory"),
    ("{tmp}/file.txt/out.npy", "is not a folder"),
])
def test_encode_checks_the_output_before_loading_the_model(tmp_path, capsys, output, message):
    _write(tmp_path / "file.txt", "x\n")
    err = _error(capsys, ["encode", "x", "--model", NO_MODEL, "--output", output.format(tmp=tmp_path)])
    assert message in err


def test_rerank_with_a_bi_encoder_runs_only_with_force(corpus_file, capsys):
    rows, err = _search(capsys, corpus_file, "--rerank", TINY, "--force-rerank", "--top-k", "3")
    assert len(rows) == 3
    rows, _ = _search(capsys, corpus_file, "--rerank", CROSS, "--top-k", "3")  # a CrossEncoder needs no force
    assert len(rows) == 3


# --- input files ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["null", "42", '["a", "b"]', '{"x": 1}', "true"])
def test_jsonl_refuses_non_string_values_naming_the_line(tmp_path, capsys, value):
    path = _write(tmp_path / "in.jsonl", f'{{"text": "fine"}}\n{{"text": {value}}}\n')
    err = _error(capsys, ["encode", "--file", str(path), "--model", NO_MODEL])
    assert f"{path}:2: 'text' is" in err and "not a string" in err


@pytest.mark.parametrize("name, content, extra", [
    ("in.txt", "first\nsecond\n", {}),
    ("in.jsonl", '{"text": "first"}\n{"text": "second"}\n', {}),
    ("in.tsv", "first\t1\nsecond\t2\n", {"header": False}),
    ("in.csv", "text,n\nfirst,1\nsecond,2\n", {"column": "text"}),
])
def test_a_byte_order_mark_is_dropped(tmp_path, capsys, name, content, extra):
    path = _write(tmp_path / name, b"\xef\xbb\xbf" + content.encode("utf-8"))
    assert read_text_file(path, **extra) == ["first", "second"]


def test_table_header_default_no_header_and_column_names(tmp_path, capsys):
    tsv = _write(tmp_path / "pairs.tsv", "sentence1\tsentence2\tscore\nA cat.\tA kitten.\t4.2\n\nDogs.\tCats.\t1.0\n")
    assert read_numbered_texts(tsv, column="sentence2") == [(2, "A kitten."), (4, "Cats.")]
    assert "line 1 is read as the header (sentence1, sentence2, score)" in capsys.readouterr().err
    assert read_numbered_texts(tsv, column=1, header=True) == [(2, "A kitten."), (4, "Cats.")]
    assert capsys.readouterr().err == ""  # asked for: no notice
    assert read_text_file(tsv, header=False) == ["sentence1", "A cat.", "Dogs."]
    with pytest.raises(ValueError, match="no column 'nope' in the header"):
        read_text_file(tsv, column="nope")
    with pytest.raises(ValueError, match="needs|without a header"):
        read_text_file(tsv, column="sentence1", header=False)


def test_csv_is_parsed_with_quotes_and_line_numbers(tmp_path):
    csv_file = _write(tmp_path / "docs.csv", 'id,text\n1,"Hello, world"\n2,"two\nlines"\n3,plain\n')
    assert read_numbered_texts(csv_file, column="text") == [(2, "Hello, world"), (3, "two\nlines"), (5, "plain")]


def test_encode_with_a_header_row_via_the_cli(tmp_path, capsys):
    tsv = _write(tmp_path / "in.tsv", "id\tbody\n1\tgamma\n2\tdelta\n")
    assert main(["encode", "--file", str(tsv), "--column", "body", "--model", TINY]) == 0
    assert [json.loads(x)["text"] for x in capsys.readouterr().out.splitlines()] == ["gamma", "delta"]


def test_non_utf8_file_is_one_line_naming_the_file(tmp_path, capsys):
    path = _write(tmp_path / "latin1.txt", "ok\ncaf\xe9\n".encode("latin-1"))
    err = _error(capsys, ["encode", "--file", str(path), "--model", NO_MODEL])
    assert f"{path}:2: not UTF-8" in err


def test_a_directory_is_not_a_missing_file(tmp_path, capsys):
    err = _error(capsys, ["search", "--corpus", str(tmp_path), "--query", "q", "--model", NO_MODEL])
    assert "is a directory" in err and "no such file" not in err


def test_encode_of_an_empty_file_says_it_holds_no_texts(tmp_path, capsys):
    path = _write(tmp_path / "empty.txt", "\n  \n")
    err = _error(capsys, ["encode", "--file", str(path), "--model", NO_MODEL])
    assert f"{path} holds no texts" in err


def test_stdin_for_encode_file_and_search_corpus(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = [sys.executable, "-m", "embedkit"]
    enc = subprocess.run([*run, "encode", "--file", "-", "--model", TINY], input="alpha\n\nbeta\n",
                         capture_output=True, text=True, env=env, timeout=120)
    assert enc.returncode == 0, enc.stderr
    assert [json.loads(line)["text"] for line in enc.stdout.splitlines()] == ["alpha", "beta"]
    found = subprocess.run([*run, "search", "--corpus", "-", "--query", "cat", "--format", "jsonl", "--model", TINY],
                           input="\n".join(CORPUS) + "\n", capture_output=True, text=True, env=env, timeout=120)
    assert found.returncode == 0, found.stderr
    assert sorted(json.loads(line)["corpus_id"] for line in found.stdout.splitlines()) == [1, 2, 3, 4, 5]
    bad = subprocess.run([*run, "search", "--corpus", "-", "--query", " ", "--model", TINY], input="x\n",
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == ["embedkit: error: --query 1 is empty"]


# --- output -----------------------------------------------------------------------------------------------------

def test_tsv_output_escapes_tabs_newlines_and_backslashes(tmp_path, capsys):
    corpus = _write(tmp_path / "c.jsonl", json.dumps({"text": "a\tb\nc\\d"}) + "\n")
    assert main(["search", "--corpus", str(corpus), "--query", "q\tx", "--model", TINY]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1
    query, rank, _, text = out.rstrip("\n").split("\t")
    assert (query, rank, text) == ("q\\tx", "1", "a\\tb\\nc\\\\d")


def test_corpus_id_is_the_line_number_for_every_format(tmp_path, capsys):
    txt = _write(tmp_path / "c.txt", "\nfirst text\n\n\nsecond text\n")
    jsonl = _write(tmp_path / "c.jsonl", '\n{"text": "first text"}\n\n\n{"text": "second text"}\n')
    tsv = _write(tmp_path / "c.tsv", "text\nfirst text\n\n\nsecond text\n")  # line 1: the header
    for corpus in (txt, jsonl, tsv):
        rows, _ = _search(capsys, corpus, query="first text")
        assert {r["text"]: r["corpus_id"] for r in rows} == {"first text": 2, "second text": 5}, corpus


def test_a_lone_surrogate_in_the_input_is_named_by_file_and_line_before_the_model_loads(tmp_path, capsys):
    texts = _write(tmp_path / "t.jsonl", '{"text": "ok"}\n{"text": "a\\ud800b"}\n')
    output = tmp_path / "out.jsonl"
    err = _error(capsys, ["encode", "--file", str(texts), "--model", NO_MODEL, "--output", str(output)])
    assert f"{texts}:2: the text holds '\\ud800', a lone surrogate" in err and not output.exists()
    err = _error(capsys, ["search", "--corpus", str(texts), "--query", "q", "--model", NO_MODEL])
    assert f"{texts}:2:" in err
    err = _error(capsys, ["search", "--corpus", str(_write(tmp_path / "c.txt", "x\n")), "--query", "q\udcff",
                          "--model", NO_MODEL])  # an argument bytes that the command line could not decode
    assert "--query 1: the text holds '\\udcff'" in err


@pytest.mark.parametrize("suffix", [".npy", ".jsonl"])
def test_encode_writes_its_output_whole_or_not_at_all(tmp_path, capsys, monkeypatch, suffix):
    """An interrupt while the output is written leaves the file that was there (here: none, then the old one)."""
    import embedkit.cli as cli

    output = tmp_path / f"out{suffix}"
    assert main(["encode", "a", "b", "--model", TINY, "--output", str(output)]) == 0
    before = output.read_bytes()
    real = cli.write_atomically

    def interrupted(path, write):
        def half(stream):
            stream.write(b"partial")
            raise KeyboardInterrupt

        real(path, half)

    monkeypatch.setattr(cli, "write_atomically", interrupted)
    assert main(["encode", "c", "--model", TINY, "--output", str(output)]) == 130
    assert output.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [output.name]


@pytest.mark.parametrize("argv, message", [
    (["encode", "x", "--model", CROSS], f"--model {CROSS} is a CrossEncoder, not a SentenceTransformer"),
    (["evaluate", "{sts}", "--model", CROSS], "is a CrossEncoder, not a SentenceTransformer"),
    (["search", "--corpus", "{sts}", "--query", "q", "--model", CROSS], "is a CrossEncoder"),
    (["search", "--corpus", "{sts}", "--query", "q", "--model", TINY, "--sparse", CROSS],
     f"--sparse {CROSS} is a CrossEncoder, not a SparseEncoder"),
    (["serve", CROSS], f"MODEL {CROSS} is a CrossEncoder, not a SentenceTransformer"),
    (["serve", TINY, "--reranker", TINY], "is a SentenceTransformer, not a CrossEncoder"),
    (["serve", TINY, "--sparse", TINY], "is a SentenceTransformer, not a SparseEncoder"),
    (["serve", TINY, "--model", CROSS], "two models given"),
    (["info", TINY, "--model", CROSS], "two models given"),
])
def test_a_model_of_another_kind_is_refused_before_it_loads(tmp_path, capsys, argv, message):
    sts = _write(tmp_path / "sts.tsv", "sentence1\tsentence2\tscore\na\tb\t1\nc\td\t0\n")
    assert main([a.format(sts=sts) for a in argv]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the note on the .tsv header, if any
    assert last.startswith("embedkit: error:") and message in last


def test_encode_output_dash_is_stdout_and_the_npy_suffix_is_read_in_any_case(tmp_path, capsys):
    assert main(["encode", "a", "--model", TINY, "--output", "-"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["text"] == "a" and not (tmp_path / "-").exists()
    assert main(["encode", "a", "b", "--model", TINY, "--output", str(tmp_path / "E.NPY")]) == 0
    assert np.load(tmp_path / "E.NPY").shape == (2, 16)


@pytest.mark.parametrize("files, message", [
    ({"corpus.jsonl": '{"_id": "d1", "text": "a"}\n{"_id": "d2"\n'}, "corpus.jsonl:2: not a JSON object"),
    ({"corpus.jsonl": '{"_id": "d1", "title": "t"}\n'}, "corpus.jsonl:1: no 'text' field"),
    ({"queries.jsonl": '["q1", "x"]\n'}, "queries.jsonl:1: expected a JSON object"),
])
def test_evaluate_names_the_file_and_line_of_a_bad_beir_record(tmp_path, capsys, files, message):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    contents = {"corpus.jsonl": '{"_id": "d1", "text": "a"}\n', "queries.jsonl": '{"_id": "q1", "text": "x"}\n',
                "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\n", **files}
    for name, text in contents.items():
        _write(beir / name, text)
    assert message in _error(capsys, ["evaluate", str(beir), "--model", NO_MODEL])


@pytest.mark.parametrize("text, message", [
    ("sentence1\tsentence2\tscore\n", "no sentence pairs below the header"),
    ("sentence1\tsentence2\tscore\na\tb\tx\n", "data row 1: score 'x' is not a number"),
    ("sentence1\tsentence2\tscore\na\tb\n", "data row 1 has 2 columns, the header 3"),
])
def test_evaluate_refuses_an_sts_file_without_usable_pairs(tmp_path, capsys, text, message):
    assert message in _error(capsys, ["evaluate", str(_write(tmp_path / "sts.tsv", text)), "--model", NO_MODEL])
