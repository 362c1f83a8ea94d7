"""LoRA adapters (``embedkit.encoders.lora`` and the models' PEFT methods) against sentence-transformers 5.1.2 + peft
0.21.2 (golden values and folders from ``tests/generate_lora_fixtures.py``): adapter folders ST saved load with the
same embeddings, a seeded ``add_adapter`` draws PEFT's initial weights, embedkit's saves are PEFT's files, only the
adapter trains, resume is exact, and the methods behave and fail as transformers' do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from embedkit import CrossEncoder, SentenceTransformer
from embedkit.encoders.lora import LoraLinear, LoraSettings
from embedkit.sentence_transformer.modules import Pooling, Transformer
from tests.conftest import FIXTURES
from tests.encoders.family_checks import CE_FOLDERS, FAMILY_FOLDERS, SPARSE_FOLDERS

LORA = FIXTURES / "lora"
GOLDEN = np.load(LORA / "golden.npz")
TEXTS = [str(t) for t in GOLDEN["texts"]]
TOL = dict(atol=5e-6, rtol=0)  # the Qwen3 case is not normalized (values up to ~4)
BASES = {"bert": "tiny_bert_classic", "qwen3": "qwen3_st"}
OPTIONS = {"bert": dict(r=4, lora_alpha=8, lora_dropout=0.1),
           "qwen3": dict(r=2, lora_alpha=4, target_modules="all-linear", exclude_modules=["o_proj"],
                         use_rslora=True)}


def adapter_folder(tmp_path: Path, case: str) -> Path:
    """The fixture's adapter folder, pointed at the base fixture it was trained on."""
    folder = tmp_path / f"{case}_adapter"
    shutil.copytree(LORA / f"{case}_adapter", folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(FIXTURES / BASES[case])
    (folder / "adapter_config.json").write_text(json.dumps(config))
    return folder


def base_model(case: str) -> SentenceTransformer:
    if case == "bert":
        return SentenceTransformer(str(FIXTURES / BASES[case]), device="cpu")
    return SentenceTransformer(modules=[Transformer(str(FIXTURES / BASES[case])), Pooling(32, "mean")], device="cpu")


@pytest.mark.parametrize("case", ["bert", "qwen3"])
def test_adapter_folder_saved_by_st_gives_its_embeddings(tmp_path, case):
    model = SentenceTransformer(str(adapter_folder(tmp_path, case)), device="cpu")
    assert model.active_adapters() == ["default"]
    np.testing.assert_allclose(model.encode(TEXTS), GOLDEN[f"emb_{case}"], **TOL)
    for i, text in enumerate(TEXTS):  # single calls take the engine's one-thread path
        np.testing.assert_allclose(model.encode(text), GOLDEN[f"emb_{case}"][i], **TOL)
    model.disable_adapters()
    np.testing.assert_allclose(model.encode(TEXTS), GOLDEN[f"base_{case}"], **TOL)
    model.enable_adapters()
    np.testing.assert_allclose(model.encode(TEXTS), GOLDEN[f"emb_{case}"], **TOL)
    assert not np.allclose(GOLDEN[f"emb_{case}"], GOLDEN[f"base_{case}"], atol=1e-3)  # the adapter matters
    # As transformers loads an adapter folder: the adapter active and frozen, the network's weights frozen.
    assert not any(p.requires_grad for p in model[0].parameters())


@pytest.mark.parametrize("case", ["bert", "qwen3"])
def test_seeded_add_adapter_draws_pefts_initial_weights(case):
    model = base_model(case)
    torch.manual_seed(0)
    model.add_adapter(dict(OPTIONS[case]))
    state = model.get_adapter_state_dict()
    prefix = f"init_{case}__"
    assert sorted(state) == sorted(k[len(prefix):] for k in GOLDEN.files if k.startswith(prefix))
    for key, tensor in state.items():
        assert np.array_equal(tensor.numpy(), GOLDEN[prefix + key]), key
    assert all(not t.any() for k, t in state.items() if "lora_B" in k)  # B starts at zero: the base's output
    np.testing.assert_allclose(model.encode(TEXTS), GOLDEN[f"base_{case}"], **TOL)


def test_all_linear_with_excluded_modules_adapts_the_right_layers():
    model = base_model("qwen3")
    model.add_adapter(dict(OPTIONS["qwen3"]))
    adapted = {name.rsplit(".", 1)[-1] for name, m in model[0].auto_model.named_modules() if isinstance(m, LoraLinear)}
    hf_names = {k.split(".lora_")[0].rsplit(".", 1)[-1] for k in model.get_adapter_state_dict()}
    assert hf_names == {"q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj"}  # not o_proj
    assert len(adapted) == 6


def test_save_writes_pefts_files_and_loads_back(tmp_path):
    model = SentenceTransformer(str(adapter_folder(tmp_path, "bert")), device="cpu")
    out = tmp_path / "saved"
    model.save(str(out))
    st_files = {p.name for p in (LORA / "bert_adapter").iterdir() if p.is_file()}  # (git keeps no empty folder)
    assert {p.name for p in out.iterdir() if p.is_file()} == st_files | {"README.md"}  # no config.json / weights
    assert set(load_file(str(out / "adapter_model.safetensors"))) == set(
        load_file(str(LORA / "bert_adapter" / "adapter_model.safetensors")))
    config = json.loads((out / "adapter_config.json").read_text())
    assert (config["peft_type"], config["r"], config["lora_alpha"], sorted(config["target_modules"])) == (
        "LORA", 4, 8, ["query", "value"])
    assert config["base_model_name_or_path"] == str(FIXTURES / "tiny_bert_classic")
    reloaded = SentenceTransformer(str(out), device="cpu")
    np.testing.assert_allclose(reloaded.encode(TEXTS), GOLDEN["emb_bert"], **TOL)


def test_added_adapter_records_its_base_and_saves_a_loadable_folder(tmp_path):
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_classic"), device="cpu")
    model.add_adapter({"r": 2, "lora_alpha": 4, "target_modules": ["query", "key", "value", "dense"]})
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_()
    model.save(str(tmp_path / "out"))
    config = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(FIXTURES / "tiny_bert_classic")
    reloaded = SentenceTransformer(str(tmp_path / "out"), device="cpu")
    np.testing.assert_array_equal(reloaded.encode(TEXTS), model.encode(TEXTS))


def test_only_the_adapter_and_later_modules_train(tmp_path):
    from embedkit.base.trainer import SentenceTransformerTrainer
    from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
    from tests.training.helpers import CosineMSE, sts_rows

    model = SentenceTransformer(str(FIXTURES / "tiny_bert_classic"), device="cpu")
    model.add_adapter({"r": 4, "lora_alpha": 8})
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    assert all(".lora_" in n for n in trainable if n.startswith("0.")) and "2.linear.weight" in trainable
    before = {k: v.clone() for k, v in model.state_dict().items()}
    args = Args(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=4, learning_rate=1e-2,
                save_strategy="no", disable_tqdm=True)
    SentenceTransformerTrainer(model, args, train_dataset=sts_rows(), loss=CosineMSE(model)).train()
    after = model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(".lora_B." in k for k in moved) and "2.linear.weight" in moved
    assert not any(k.startswith("0.") and ".lora_" not in k for k in moved)  # the network's weights are intact


def test_resume_with_an_adapter_is_bitwise_identical(tmp_path):
    from embedkit.base.trainer import SentenceTransformerTrainer
    from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
    from tests.training.helpers import CosineMSE, sts_rows
    from tests.training.test_trainer import Crash

    def run(name, callbacks=None, resume=None):
        model = SentenceTransformer(str(FIXTURES / "tiny_bert_classic"), device="cpu")
        torch.manual_seed(0)
        model.add_adapter({"r": 4, "lora_alpha": 8, "lora_dropout": 0.1})
        args = Args(output_dir=str(tmp_path / name), max_steps=4, per_device_train_batch_size=4, learning_rate=1e-2,
                    save_strategy="steps", save_steps=2, disable_tqdm=True)
        SentenceTransformerTrainer(model, args, train_dataset=sts_rows(), loss=CosineMSE(model),
                                   callbacks=callbacks).train(resume_from_checkpoint=resume)
        return model

    full = run("full")
    with pytest.raises(KeyboardInterrupt):
        run("killed", callbacks=[Crash(3)])
    assert (tmp_path / "killed" / "checkpoint-2" / "adapter_model.safetensors").is_file()
    resumed = run("killed", resume=True)
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in full.state_dict().items())


def test_several_adapters_set_disable_delete():
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_classic"), device="cpu")
    base = model.encode(TEXTS)
    model.add_adapter({"r": 2}, adapter_name="a")
    model.add_adapter({"r": 2, "target_modules": ["key"]}, adapter_name="b")
    assert model.active_adapters() == ["b"]
    trainable = {n.split(".lora_")[1].split(".")[1] for n, p in model.named_parameters() if p.requires_grad and
                 ".lora_" in n}
    assert trainable == {"b"}  # the inactive adapter is frozen, as in PEFT
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_()
    only_b = model.encode(TEXTS)
    model.set_adapter(["a", "b"])
    both = model.encode(TEXTS)
    assert not np.allclose(only_b, both)
    with pytest.raises(ValueError, match="Multiple active adapters detected"):
        model.save("/nonexistent-never-written")
    model.disable_adapters()
    np.testing.assert_allclose(model.encode(TEXTS), base, atol=1e-6)
    model.enable_adapters()
    model.delete_adapter(["a", "b"])
    assert not any(isinstance(m, LoraLinear) for m in model.modules())
    assert all(type(m) is nn.Linear for n, m in model[0].auto_model.named_modules() if n.endswith(("attn.q", "attn.k")))
    np.testing.assert_allclose(model.encode(TEXTS), base, atol=1e-6)


def test_load_adapter_by_folder_and_by_state_dict(tmp_path):
    folder = adapter_folder(tmp_path, "bert")
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_classic"), device="cpu")
    model.load_adapter(str(folder))
    np.testing.assert_allclose(model.encode(TEXTS), GOLDEN["emb_bert"], **TOL)
    assert not any(p.requires_grad for n, p in model.named_parameters() if ".lora_" in n)
    model.load_adapter(str(folder), adapter_name="trainable", is_trainable=True)
    assert model.active_adapters() == ["trainable"]
    assert any(p.requires_grad for n, p in model.named_parameters() if ".lora_" in n)
    other = SentenceTransformer(str(FIXTURES / "tiny_bert_classic"), device="cpu")
    config = json.loads((folder / "adapter_config.json").read_text())
    other.load_adapter(peft_config=config, adapter_state_dict=load_file(str(folder / "adapter_model.safetensors")))
    np.testing.assert_allclose(other.encode(TEXTS), GOLDEN["emb_bert"], **TOL)


def test_a_peft_config_object_is_read_through_to_dict():
    class Enum:
        def __init__(self, value):
            self.value = value

    class FakeLoraConfig:  # what peft.LoraConfig.to_dict() gives: enums for the types
        def to_dict(self):
            return {"peft_type": Enum("LORA"), "task_type": Enum("FEATURE_EXTRACTION"), "r": 3, "lora_alpha": 6,
                    "target_modules": {"query"}, "use_dora": False, "bias": "none", "modules_to_save": None}

    model = SentenceTransformer(str(FIXTURES / "tiny_bert_classic"), device="cpu")
    model.add_adapter(FakeLoraConfig())
    state = model.get_adapter_state_dict()
    assert {tuple(v.shape) for k, v in state.items() if "lora_A" in k} == {(3, 32)}
    assert all(".query." in k for k in state)


def test_engine_paths_and_optimize_for_inference_keep_the_adapter(tmp_path):
    model = SentenceTransformer(str(adapter_folder(tmp_path, "bert")), device="cpu")
    reference = model.encode(TEXTS)
    with torch.no_grad():  # the encoder's own forward, outside the engine
        features = model.tokenize(TEXTS)
        model[0].auto_model.register_forward_hook(lambda *a: None)  # a hook: the engine runs the modules
        hooked = model.encode(TEXTS)
    np.testing.assert_allclose(reference, hooked, **TOL)
    assert features["input_ids"].shape[0] == len(TEXTS)
    frozen = SentenceTransformer(str(adapter_folder(tmp_path / "f", "bert")), device="cpu").optimize_for_inference()
    np.testing.assert_allclose(frozen.encode(TEXTS), reference, **TOL)
    plain = SentenceTransformer(str(FIXTURES / "tiny_bert_classic"), device="cpu").optimize_for_inference()
    if plain.optimized_for_inference:
        with pytest.raises(ValueError, match="PEFT methods are only supported"):
            plain.add_adapter({"r": 2})


def test_errors_name_the_problem():
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_classic"), device="cpu")
    for method in ("active_adapters", "disable_adapters", "enable_adapters", "get_adapter_state_dict"):
        with pytest.raises(ValueError, match="No adapter loaded. Please load an adapter first."):
            getattr(model, method)()
    with pytest.raises(ValueError, match="No adapter loaded"):
        model.delete_adapter("x")
    with pytest.raises(TypeError, match="adapter_config should be an instance of PeftConfig"):
        model.add_adapter(["r", 4])
    with pytest.raises(ValueError, match=r"Target modules \['nothere'\] not found in the base model"):
        model.add_adapter({"target_modules": ["nothere"]})
    with pytest.raises(ValueError, match="All modules were excluded"):
        model.add_adapter({"target_modules": ["query"], "exclude_modules": ["query"]})
    with pytest.raises(NotImplementedError, match="PEFT method IA3 is not supported"):
        model.add_adapter({"peft_type": "IA3"})
    with pytest.raises(NotImplementedError, match="use_dora=True"):
        model.add_adapter({"use_dora": True})
    with pytest.raises(NotImplementedError, match="modules_to_save=\\['classifier'\\]"):
        model.add_adapter({"modules_to_save": ["classifier"]})
    with pytest.raises(NotImplementedError, match="word_embeddings \\(Embedding\\)"):
        model.add_adapter({"target_modules": ["word_embeddings"]})
    assert not any(isinstance(m, LoraLinear) for m in model.modules())  # every refusal left the model as it was
    model.add_adapter({"r": 2})
    with pytest.raises(ValueError, match="Adapter with name default already exists"):
        model.add_adapter({"r": 2})
    with pytest.raises(ValueError, match=r"Adapter with name zz not found. Please pass the correct adapter name "
                                         r"among \['default'\]"):
        model.set_adapter("zz")
    with pytest.raises(ValueError, match="The following adapter\\(s\\) are not present and cannot be deleted: zz"):
        model.delete_adapter("zz")
    mpnet = SentenceTransformer(str(FIXTURES / "tiny_mpnet_v6"), device="cpu")
    with pytest.raises(ValueError, match="Please specify `target_modules` in `peft_config`"):
        mpnet.add_adapter({"r": 2})
    mpnet.add_adapter({"r": 2, "target_modules": ["q", "v"]})  # MPNet's names, as in transformers
    assert len(mpnet.get_adapter_state_dict()) == 4 * mpnet[0].auto_model.config.num_hidden_layers
    causal = CrossEncoder(str(FIXTURES / "qwen3_reranker_lm"), device="cpu")  # a module stack: not adaptable
    assert not causal.has_peft_compatible_model()
    with pytest.raises(ValueError, match="PEFT methods are only supported"):
        causal.add_adapter({"r": 2})


def test_strict_loading_leaves_nothing_half_loaded(tmp_path):
    folder = adapter_folder(tmp_path, "bert")
    weights = load_file(str(folder / "adapter_model.safetensors"))
    dropped = sorted(weights)[0]
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_classic"), device="cpu")
    config = json.loads((folder / "adapter_config.json").read_text())
    with pytest.raises(ValueError, match=r"missing: \['" + dropped[len("base_model.model."):].replace(".", r"\.")):
        model.load_adapter(peft_config=config, adapter_state_dict={k: v for k, v in weights.items() if k != dropped})
    assert not any(isinstance(m, LoraLinear) for m in model.modules())
    with pytest.raises(ValueError, match="unexpected: \\['extra.lora_A.weight'\\]"):
        model.load_adapter(peft_config=config, adapter_state_dict={**weights, "extra.lora_A.weight": weights[dropped]})


def test_settings_scaling_and_refusals():
    assert LoraSettings.from_dict({"r": 4, "lora_alpha": 8, "use_rslora": True}).scaling == 4.0
    assert LoraSettings.from_dict({"r": 4, "lora_alpha": 8}).scaling == 2.0
    with pytest.raises(NotImplementedError, match="bias='all'"):
        LoraSettings.from_dict({"bias": "all"})
    with pytest.raises(NotImplementedError, match="some_future_option=3"):
        LoraSettings.from_dict({"some_future_option": 3})
    with pytest.raises(ValueError, match="`r` should be a positive integer"):
        LoraSettings.from_dict({"r": 0})
    LoraSettings.from_dict({"some_future_option": None, "rank_pattern": {}, "loftq_config": {}})  # defaults pass



@pytest.mark.parametrize("name", FAMILY_FOLDERS)
def test_every_encoder_family_takes_an_all_linear_adapter(tmp_path, name):
    model = SentenceTransformer(str(FIXTURES / name), device="cpu")
    encoder = model[0].auto_model
    linears = sum(type(m) is nn.Linear for m in encoder.modules())
    base = model.encode(TEXTS)
    model.add_adapter({"r": 2, "lora_alpha": 4, "target_modules": "all-linear"})
    assert sum(isinstance(m, LoraLinear) for m in encoder.modules()) == linears > 0
    assert len(model.get_adapter_state_dict()) == 2 * linears
    with torch.no_grad():
        for param_name, param in model.named_parameters():
            if "lora_B" in param_name:
                param.normal_(std=0.5)
    adapted = model.encode(TEXTS)
    assert not np.allclose(adapted, base, atol=1e-4)
    model.save(str(tmp_path / "m"))
    np.testing.assert_allclose(SentenceTransformer(str(tmp_path / "m"), device="cpu").encode(TEXTS), adapted, **TOL)



def ce_adapter_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "ce_bert3_adapter"
    shutil.copytree(LORA / "ce_bert3_adapter", folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(FIXTURES / "ce_bert3")
    (folder / "adapter_config.json").write_text(json.dumps(config))
    return folder


def test_cross_encoder_adapter_gives_transformers_peft_logits(tmp_path):
    pairs = [tuple(p) for p in GOLDEN["ce_pairs"]]
    identity = nn.Identity()
    model = CrossEncoder(str(FIXTURES / "ce_bert3"), device="cpu")
    assert model.has_peft_compatible_model()
    assert model.tokenizer.batch_features(pairs)["input_ids"].tolist() == GOLDEN["ce_input_ids"].tolist()
    model.load_adapter(str(ce_adapter_folder(tmp_path)))  # adapter files as transformers' save_pretrained wrote them
    np.testing.assert_allclose(model.predict(pairs, activation_fn=identity), GOLDEN["ce_logits"], atol=1e-6, rtol=0)
    assert model.get_adapter_state_dict().keys() >= {"classifier.lora_A.weight", "classifier.lora_B.weight"}
    model.disable_adapters()
    np.testing.assert_allclose(model.predict(pairs, activation_fn=identity), GOLDEN["ce_base_logits"], atol=1e-6,
                               rtol=0)
    model.enable_adapters()
    model.save(str(tmp_path / "saved"))  # a CrossEncoder folder holding the adapter instead of the classifier
    names = {p.name for p in (tmp_path / "saved").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "modules.json",
            "config_sentence_transformers.json"} <= names and not names & {"config.json", "model.safetensors"}
    reloaded = CrossEncoder(str(tmp_path / "saved"), device="cpu")
    assert reloaded.active_adapters() == ["default"]
    np.testing.assert_allclose(reloaded.predict(pairs, activation_fn=identity), GOLDEN["ce_logits"], atol=1e-6, rtol=0)


def test_cross_encoder_adapter_trains_alone(tmp_path):
    from embedkit.cross_encoder.losses import BinaryCrossEntropyLoss
    from embedkit.cross_encoder.trainer import CrossEncoderTrainer
    from embedkit.cross_encoder.training_args import CrossEncoderTrainingArguments

    model = CrossEncoder(str(FIXTURES / "ce_bert1"), device="cpu")
    model.add_adapter({"r": 2, "lora_alpha": 4, "target_modules": ["query", "value", "classifier"]})
    assert all(".lora_" in n for n, p in model.named_parameters() if p.requires_grad)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = {"query": ["a b", "c d", "e f", "g h"] * 2, "doc": ["b a", "x y", "f e", "z w"] * 2,
            "label": [1.0, 0.0, 1.0, 0.0] * 2}
    args = CrossEncoderTrainingArguments(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4,
                                         learning_rate=1e-2, save_strategy="no", disable_tqdm=True)
    CrossEncoderTrainer(model, args, train_dataset=data, loss=BinaryCrossEntropyLoss(model)).train()
    moved = {k for k, v in model.state_dict().items() if not torch.equal(before[k], v)}
    assert moved and all(".lora_" in k for k in moved)


def test_sparse_encoder_adapter_gives_transformers_peft_splade_vectors(tmp_path):
    """SPLADE: LoRA on every Linear of BertForMaskedLM, the MLM head's transform included (transformers 4.57's own
    add_adapter / save_pretrained wrote the adapter; the vectors pooled from its logits as SpladePooling pools)."""
    from embedkit import SparseEncoder

    folder = tmp_path / "se_bert_adapter"
    shutil.copytree(LORA / "se_bert_adapter", folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(FIXTURES / "se_bert_v6")
    (folder / "adapter_config.json").write_text(json.dumps(config))
    model = SparseEncoder(str(FIXTURES / "se_bert_v6"), device="cpu")
    assert model.preprocess(TEXTS)["input_ids"].tolist() == GOLDEN["se_input_ids"].tolist()

    def dense(m):
        return m.encode(TEXTS, convert_to_tensor=True).to_dense().numpy()

    model.load_adapter(str(folder))
    assert {k.split(".lora_")[0] for k in model.get_adapter_state_dict()} >= {"cls.predictions.transform.dense"}
    np.testing.assert_allclose(dense(model), GOLDEN["se_emb"], atol=1e-6, rtol=0)
    model.disable_adapters()
    np.testing.assert_allclose(dense(model), GOLDEN["se_base_emb"], atol=1e-6, rtol=0)
    model.enable_adapters()
    model.save(str(tmp_path / "saved"))
    assert not {p.name for p in (tmp_path / "saved").iterdir()} & {"config.json", "model.safetensors"}
    np.testing.assert_allclose(dense(SparseEncoder(str(tmp_path / "saved"), device="cpu")), GOLDEN["se_emb"], atol=1e-6,
                               rtol=0)



def _randomize_lora_b(model) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)


@pytest.mark.parametrize("name", CE_FOLDERS)
def test_every_cross_encoder_family_takes_an_all_linear_adapter(tmp_path, name):
    pairs = [("a query", "a document"), ("another", "text here")]
    model = CrossEncoder(str(FIXTURES / name), device="cpu")
    linears = sum(type(m) is nn.Linear for m in model.model.modules())
    base = model.predict(pairs, activation_fn=nn.Identity())
    model.add_adapter({"r": 2, "lora_alpha": 4, "target_modules": "all-linear"})
    assert sum(isinstance(m, LoraLinear) for m in model.model.modules()) == linears > 0
    _randomize_lora_b(model)
    adapted = model.predict(pairs, activation_fn=nn.Identity())
    assert not np.allclose(adapted, base, atol=1e-4)
    model.save(str(tmp_path / "m"))
    reloaded = CrossEncoder(str(tmp_path / "m"), device="cpu").predict(pairs, activation_fn=nn.Identity())
    np.testing.assert_allclose(reloaded, adapted, **TOL)


@pytest.mark.parametrize("name", SPARSE_FOLDERS)
def test_every_splade_family_takes_an_all_linear_adapter(tmp_path, name):
    from embedkit import SparseEncoder

    model = SparseEncoder(str(FIXTURES / name), device="cpu")
    base = model.encode(TEXTS, convert_to_tensor=True).to_dense()
    model.add_adapter({"r": 2, "lora_alpha": 4, "target_modules": "all-linear"})
    assert any(isinstance(m, LoraLinear) for m in model[0].mlm_head.modules())  # the head's transform too
    _randomize_lora_b(model)
    adapted = model.encode(TEXTS, convert_to_tensor=True).to_dense()
    assert not torch.allclose(adapted, base, atol=1e-4)
    model.save(str(tmp_path / "m"))
    reloaded = SparseEncoder(str(tmp_path / "m"), device="cpu").encode(TEXTS, convert_to_tensor=True).to_dense()
    torch.testing.assert_close(reloaded, adapted, atol=5e-6, rtol=0)
