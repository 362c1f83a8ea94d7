"""Issue #18 (loading): model-folder files read safely, malformed configs named by file and key, size checks
before allocating, activation classes only, and truncation lengths that keep truncating."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from embedkit import SentenceTransformer
from tests.conftest import FIXTURES


def copy_model(tmp_path, name="tiny_bert_v6"):
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    return target


def edit_json(path, change):
    data = json.loads(path.read_text())
    data = change(data) or data
    path.write_text(json.dumps(data))


def load(folder):
    return SentenceTransformer(str(folder), device="cpu")


# ---- every file of a model folder: a regular file inside the folder ----

@pytest.mark.parametrize("name", ["tokenizer.json", "sentence_bert_config.json", "2_Dense/model.safetensors",
                                  "2_Dense/config.json", "model.safetensors", "tokenizer_config.json"])
def test_a_file_symlinked_to_dev_zero_is_refused_naming_it(tmp_path, name):
    folder = copy_model(tmp_path)
    (folder / name).unlink()
    (folder / name).symlink_to("/dev/zero")
    with pytest.raises(ValueError, match=f"{name} is not a regular file"):
        load(folder)


@pytest.mark.parametrize("name", ["tokenizer.json", "2_Dense/config.json", "model.safetensors", "vocab.txt"])
def test_a_file_symlinked_outside_the_folder_is_refused(tmp_path, name):
    folder = copy_model(tmp_path)
    if name == "vocab.txt":  # the WordPiece fallback reads vocab.txt when tokenizer.json is absent
        (folder / "tokenizer.json").unlink()
    outside = tmp_path / "elsewhere"
    outside.write_bytes((folder / name).read_bytes() if (folder / name).exists() else b"[PAD]\n[UNK]\n")
    (folder / name).unlink(missing_ok=True)
    (folder / name).symlink_to(outside)
    with pytest.raises(ValueError, match=f"{name} is a symlink to .*outside the model folder"):
        load(folder)


def test_symlinks_inside_the_folder_and_into_a_hub_cache_blobs_folder_are_followed(tmp_path):
    folder = tmp_path / "models--x--y" / "snapshots" / "abc"  # the Hub cache layout: files link to ../../blobs
    shutil.copytree(FIXTURES / "tiny_bert_v6", folder)
    blobs = tmp_path / "models--x--y" / "blobs"
    blobs.mkdir()
    for name, blob in (("tokenizer.json", "0123"), ("2_Dense/model.safetensors", "4567")):
        shutil.move(folder / name, blobs / blob)
        (folder / name).symlink_to(os.path.relpath(blobs / blob, (folder / name).parent))
    shutil.move(folder / "2_Dense" / "config.json", folder / "2_Dense" / "real.json")
    (folder / "2_Dense" / "config.json").symlink_to("real.json")
    assert load(folder).encode(["a"]).shape == (1, 16)


FIFO_SCRIPT = """
import os, sys
from embedkit import SentenceTransformer
folder = sys.argv[1]
os.unlink(os.path.join(folder, sys.argv[2]))
os.mkfifo(os.path.join(folder, sys.argv[2]))
try:
    SentenceTransformer(folder, device="cpu")
except ValueError as exc:
    print("refused:", exc)
"""


@pytest.mark.parametrize("name", ["tokenizer.json", "model.safetensors"])
def test_a_fifo_is_refused_without_hanging(tmp_path, name):
    folder = copy_model(tmp_path)
    done = subprocess.run([sys.executable, "-c", FIFO_SCRIPT, str(folder), name], capture_output=True, text=True,
                          timeout=120, cwd=str(FIXTURES.parent.parent))  # opening a FIFO would block forever
    assert f"{name} is not a regular file" in done.stdout, done.stderr[-2000:]


README_SCRIPT = """
import os, sys
from embedkit import SentenceTransformer
folder = sys.argv[1]
os.mkfifo(os.path.join(folder, "README.md"))
os.symlink("/dev/zero", os.path.join(folder, "2_Dense", "README.md"))
print("loaded", SentenceTransformer(folder, device="cpu").encode(["a"]).shape)
"""


def test_a_fifo_readme_is_not_read_and_the_model_loads(tmp_path):
    folder = copy_model(tmp_path)
    done = subprocess.run([sys.executable, "-c", README_SCRIPT, str(folder)], capture_output=True, text=True,
                          timeout=120, cwd=str(FIXTURES.parent.parent))
    assert "loaded (1, 16)" in done.stdout, done.stderr[-2000:]
    assert "not reading the model card" in done.stderr


def test_an_oversized_tokenizer_json_is_refused(tmp_path, monkeypatch):
    from embedkit import model_files

    folder = copy_model(tmp_path)
    monkeypatch.setattr(model_files, "MAX_TOKENIZER_BYTES", 1024)
    monkeypatch.setattr("embedkit.tokenizer.MAX_TOKENIZER_BYTES", 1024)
    with pytest.raises(ValueError, match="tokenizer.json is larger than"):
        load(folder)


# ---- malformed configs: one error naming the file and the key ----

def _set_entry(index, value):
    return lambda entries: entries.__setitem__(index, value)


def _set_key(index, key, value):
    return lambda entries: entries[index].__setitem__(key, value)


@pytest.mark.parametrize("change, message", [
    (_set_entry(1, "1_Pooling"), r"modules.json: entry 1 must be an object"),
    (_set_key(1, "type", ["x"]), r"modules.json: entry 1 key 'type' must be a string, not list"),
    (_set_key(1, "path", 5), r"modules.json: entry 1 key 'path' must be a string, not int"),
    (_set_key(2, "kwargs", "task"), r"modules.json: entry 2 key 'kwargs' must be a list of strings"),
])
def test_malformed_modules_json_entries_name_the_entry_and_key(tmp_path, change, message):
    folder = copy_model(tmp_path)
    edit_json(folder / "modules.json", change)
    with pytest.raises(ValueError, match=message):
        load(folder)


@pytest.mark.parametrize("change, message", [
    (lambda c: [c], r"config.json: config.json must hold a JSON object, not list"),
    (lambda c: c.pop("vocab_size") and None, r"config.json: config.json lacks the required key 'vocab_size'"),
    (lambda c: c.update(layer_norm_eps="1e-12"), r"config.json: config layer_norm_eps='1e-12' must be a number"),
    (lambda c: c.update(layer_norm_eps=-1e-12), r"config.json: config layer_norm_eps=-1e-12 must be a number"),
    (lambda c: c.update(hidden_dropout_prob=5), r"config.json: config hidden_dropout_prob=5 is not a probability"),
    (lambda c: c.update(attention_probs_dropout_prob=-1), r"config.json: config attention_probs_dropout_prob=-1"),
    (lambda c: c.update(pad_token_id=1e9), r"config.json: config pad_token_id=1000000000.0 is not a row"),
    (lambda c: c.update(pad_token_id="x"), r"config.json: config pad_token_id='x' is not a row"),
])
def test_malformed_encoder_configs_name_the_file_and_key(tmp_path, change, message):
    folder = copy_model(tmp_path)
    edit_json(folder / "config.json", change)
    with pytest.raises(ValueError, match=message):
        load(folder)


@pytest.mark.parametrize("key, value", [("in_features", -3), ("out_features", 0), ("out_features", "16"),
                                        ("in_features", None)])
def test_a_bad_dense_size_names_the_file_and_key(tmp_path, key, value):
    folder = copy_model(tmp_path)
    edit_json(folder / "2_Dense" / "config.json", lambda c: c.update({key: value}))
    with pytest.raises(ValueError, match=rf"2_Dense/config.json: {key}=.* must be a positive integer"):
        load(folder)


def test_an_absurd_dense_config_is_refused_before_allocating(tmp_path):
    import resource

    folder = copy_model(tmp_path)
    edit_json(folder / "2_Dense" / "config.json", lambda c: c.update(in_features=60000, out_features=60000))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=r"2_Dense/config.json: in_features=60000 x out_features=60000 describes "
                                         r"3,600,000,000 weights but .*model.safetensors holds 528"):
        load(folder)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200, f"peak memory grew by {grown_mib:.0f} MiB"  # the layer would take 14 GB


def test_integer_static_embedding_weights_are_refused(tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    folder = copy_model(tmp_path, "static_st")
    state = {k: (v * 10).round().to(torch.int64) for k, v in load_file(str(folder / "model.safetensors")).items()}
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match=r"model.safetensors: .*non-float weights .*embedding.weight: torch.int64"):
        load(folder)


# ---- activations, truncation lengths, input indices ----

@pytest.mark.parametrize("path", ["torch.nn.modules.linear.Linear", "torch.nn.modules.container.Sequential",
                                  "torch.nn.modules.sparse.Embedding"])
def test_dense_activation_must_be_an_activation_class(tmp_path, path):
    folder = copy_model(tmp_path)
    edit_json(folder / "2_Dense" / "config.json", lambda c: c.update(activation_function=path))
    with pytest.raises(ValueError, match="is not an activation class"):
        load(folder)


@pytest.mark.parametrize("path", ["torch.nn.modules.linear.Identity", "torch.nn.modules.activation.GELU"])
def test_identity_and_activation_classes_load(tmp_path, path):
    folder = copy_model(tmp_path)
    edit_json(folder / "2_Dense" / "config.json", lambda c: c.update(activation_function=path))
    assert load(folder).encode(["a"]).shape == (1, 16)


@pytest.mark.parametrize("value", [0, 1, -5, True, 2.5])
def test_max_seq_length_below_2_is_refused(value):
    model = load(FIXTURES / "tiny_bert_v6")
    with pytest.raises(ValueError, match=r"max_seq_length=.* must be an integer >= 2"):
        model.max_seq_length = value
    model.max_seq_length = 2  # [CLS] [SEP]: still truncates
    assert model.tokenize(["word " * 50])["input_ids"].shape[1] == 2


def test_a_negative_max_seq_length_in_the_folder_is_refused_naming_it(tmp_path):
    folder = copy_model(tmp_path)
    edit_json(folder / "sentence_bert_config.json", lambda c: c.update(max_seq_length=-5))
    with pytest.raises(ValueError, match=rf"{folder.name}: max_seq_length=-5"):
        load(folder)


def test_the_type_error_names_the_callers_index_not_the_sorted_one():
    with pytest.raises(TypeError, match="input 1 has type int"):
        load(FIXTURES / "tiny_bert_v6").encode(["a", 5, "a much longer text"])


def test_module_save_writes_the_format_asked_for(tmp_path):
    model = load(FIXTURES / "tiny_bert_v6")
    for index, expected in ((0, "pytorch_model.bin"), (2, "pytorch_model.bin")):
        target = tmp_path / str(index)
        target.mkdir()
        model[index].save(str(target), safe_serialization=False)
        names = set(os.listdir(target))
        assert expected in names and "model.safetensors" not in names


def test_concurrent_saves_to_one_folder_take_turns_and_leave_no_backup(tmp_path):
    import threading

    import numpy as np

    model = load(FIXTURES / "tiny_bert_v6")
    target = tmp_path / "out" / "m"
    errors = []

    def save_many():
        try:
            for _ in range(25):
                model.save(str(target))
        except Exception as exc:  # the old code: raw FileNotFoundError/OSError between the renames
            errors.append(exc)

    threads = [threading.Thread(target=save_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(p.name for p in target.parent.iterdir()) == ["m"]  # no .m.old-* or .m.tmp-* left
    np.testing.assert_allclose(load(target).encode(["a"]), model.encode(["a"]), atol=1e-6)


def test_saving_in_the_other_format_keeps_user_files_in_module_folders_and_loads_the_new_dense(tmp_path):
    import numpy as np
    import torch

    model = load(FIXTURES / "tiny_bert_v6")
    folder = tmp_path / "m"
    model.save(str(folder))
    (folder / "2_Dense" / "NOTES.md").write_text("mine")
    with torch.no_grad():
        model[2].linear.weight.mul_(-1.0)
    model.save(str(folder), safe_serialization=False)
    assert sorted(p.name for p in (folder / "2_Dense").iterdir()) == ["NOTES.md", "config.json", "pytorch_model.bin"]
    np.testing.assert_allclose(load(folder).encode(["a text"]), model.encode(["a text"]), atol=1e-6)


@pytest.mark.parametrize("name, smallest", [("ce_bert1", 3), ("ce_mpnet1", 4)])
def test_cross_encoder_max_length_below_a_pairs_special_tokens_is_refused(name, smallest):
    from embedkit import CrossEncoder

    for value in (0, 1, smallest - 1, True):
        with pytest.raises(ValueError, match=rf"max_seq_length={value!r} must be an integer >= {smallest}"):
            CrossEncoder(str(FIXTURES / name), device="cpu", max_length=value)
    model = CrossEncoder(str(FIXTURES / name), device="cpu", max_length=smallest)
    assert [len(ids) for ids in model.tokenizer.encode_ids([("a b c d e", "f g h i j")],
                                                            max_length=model.max_seq_length)] == [smallest]
