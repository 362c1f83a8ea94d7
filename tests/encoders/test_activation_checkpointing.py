"""Activation checkpointing: every family's layers recompute in backward, and the gradients equal the plain run's.

Each check counts the layers' forward calls (a pre-hook, which fires also when a recompute stops early) and the bytes
autograd keeps outside the recomputed layers, so a switch that did nothing would fail.
"""

from __future__ import annotations

import pytest
import torch

from embedkit import CrossEncoder, SentenceTransformer, SparseEncoder
from embedkit.base.training_args import SentenceTransformerTrainingArguments as Args
from embedkit.encoders.activation_checkpointing import CheckpointedLayer, checkpoint_function
from tests.conftest import FIXTURES
from tests.encoders.family_checks import CE_FOLDERS, FAMILY_FOLDERS, SPARSE_FOLDERS

TEXTS = ["a short one", "a somewhat longer text about cats and dogs", "x"]  # different lengths: padding
PAIRS = [("a query", "a document about it"), ("another query here", "text")]


def _layers(model: torch.nn.Module) -> list[CheckpointedLayer]:
    return [m for m in model.modules() if isinstance(m, CheckpointedLayer)]


def _backward(model: torch.nn.Module, output) -> dict:
    """Loss = a fixed projection of the model's output; returns the loss, every gradient, the layer forward calls
    (in all and per layer: a layer shared across depth, as ALBERT's, runs several times) and the bytes autograd saved
    outside checkpointed regions."""
    per_layer = {id(layer): 0 for layer in _layers(model)}

    def count(layer, *_):
        per_layer[id(layer)] += 1

    handles = [layer.register_forward_pre_hook(count) for layer in _layers(model)]
    saved = {}

    def pack(t: torch.Tensor):
        saved[(t.untyped_storage().data_ptr(), t.dtype)] = t.untyped_storage().nbytes()
        return t

    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)  # the same dropout masks for both runs
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = output(model)
            weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
            loss = (out * weights).sum()
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return {"loss": loss.detach(), "grads": grads, "calls": sum(per_layer.values()), "per_layer": per_layer,
            "saved": sum(saved.values())}


def _assert_checkpointing_is_exact(model: torch.nn.Module, output, every_n_layers: int = 1, offload: bool = False,
                                   **kwargs) -> None:
    model.train()
    plain = _backward(model, output)
    layers = _layers(model)
    assert layers and all(calls >= 1 for calls in plain["per_layer"].values())  # >1: a layer shared across depth
    model.gradient_checkpointing_enable(kwargs or None, every_n_layers=every_n_layers, offload=offload)
    ckpt = _backward(model, output)
    model.gradient_checkpointing_disable()
    recomputed = sum(plain["per_layer"][id(layer)] for layer in layers[::every_n_layers])
    assert ckpt["calls"] == plain["calls"] + recomputed  # each checkpointed layer ran its forward again in backward
    assert ckpt["saved"] < plain["saved"]
    torch.testing.assert_close(ckpt["loss"], plain["loss"], rtol=0, atol=0)
    assert ckpt["grads"].keys() == plain["grads"].keys() and len(plain["grads"]) > 0
    for name, grad in plain["grads"].items():
        torch.testing.assert_close(ckpt["grads"][name], grad, rtol=1e-6, atol=1e-7, msg=name)
    assert _backward(model, output)["calls"] == plain["calls"]  # disabled again


def _st_output(texts=TEXTS):
    return lambda model: model(model.preprocess(texts))["sentence_embedding"]


@pytest.mark.parametrize("name", FAMILY_FOLDERS)
def test_every_encoder_family_recomputes_its_layers_with_the_same_gradients(name):
    model = SentenceTransformer(str(FIXTURES / name), device="cpu")
    _assert_checkpointing_is_exact(model, _st_output())


@pytest.mark.parametrize("name", [*CE_FOLDERS, "qwen3_reranker_lm"])
def test_every_cross_encoder_family_recomputes_its_layers_with_the_same_gradients(name):
    model = CrossEncoder(str(FIXTURES / name), device="cpu")
    _assert_checkpointing_is_exact(model, lambda m: m(m.preprocess(PAIRS))["scores"])


@pytest.mark.parametrize("name", SPARSE_FOLDERS)
def test_every_splade_family_recomputes_its_layers_with_the_same_gradients(name):
    model = SparseEncoder(str(FIXTURES / name), device="cpu")
    _assert_checkpointing_is_exact(model, lambda m: m(m.preprocess(TEXTS))["sentence_embedding"])


def test_every_n_layers_checkpoints_every_nth_layer():
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    layers = _layers(model)
    assert len(layers) >= 2
    _assert_checkpointing_is_exact(model, _st_output(), every_n_layers=2)
    model.gradient_checkpointing_enable(every_n_layers=2)
    assert [layer.checkpoint_fn is not None for layer in layers] == [i % 2 == 0 for i in range(len(layers))]
    with pytest.raises(ValueError, match="every_n_layers must be a positive integer"):
        model.gradient_checkpointing_enable(every_n_layers=0)


def test_reentrant_checkpointing_with_frozen_embeddings_still_trains_the_layers():
    """Reentrant checkpointing needs a layer input that requires grad; with the embeddings frozen (as under an
    adapter) the layers must still get their gradients, equal to the plain run's."""
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    for param in model[0].auto_model.embed.parameters():
        param.requires_grad_(False)
    _assert_checkpointing_is_exact(model, _st_output(), use_reentrant=True)


def test_evaluation_and_inference_do_not_recompute():
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    calls = [0]
    for layer in _layers(model):
        layer.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    expected = model.encode(TEXTS)  # the hooks send encode through the layers (not the inference engine)
    calls[0] = 0
    model.gradient_checkpointing_enable()
    assert model[0].auto_model.is_gradient_checkpointing
    torch.testing.assert_close(torch.from_numpy(model.encode(TEXTS)), torch.from_numpy(expected), rtol=0, atol=0)
    assert calls[0] <= len(_layers(model))  # the hooks send encode through the layers, once each
    calls[0] = 0
    model.eval()
    with torch.enable_grad():  # eval mode: no checkpointing even while autograd records
        model(model.preprocess(TEXTS))["sentence_embedding"].sum().backward()
    assert calls[0] == len(_layers(model))


def test_a_router_model_checkpoints_every_route_and_a_static_model_ignores_the_call():
    router = SentenceTransformer(str(FIXTURES / "router_dense"), device="cpu")
    encoders = [m for m in router.modules() if hasattr(m, "is_gradient_checkpointing")]
    assert len(encoders) >= 1
    router.gradient_checkpointing_enable()
    assert all(e.is_gradient_checkpointing for e in encoders)
    static = SentenceTransformer(str(FIXTURES / "static_st"), device="cpu")
    static.gradient_checkpointing_enable()  # nothing to checkpoint: no error, as in sentence-transformers
    assert not _layers(static)


def test_a_module_that_declares_no_support_is_skipped_with_a_warning(caplog):
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    encoder = model[0].auto_model
    encoder.supports_gradient_checkpointing = False
    with caplog.at_level("WARNING"):
        model.gradient_checkpointing_enable()
    assert not encoder.is_gradient_checkpointing
    assert "BertModel does not support gradient checkpointing, skipping it." in caplog.text


def test_checkpoint_arguments_are_checked():
    with pytest.raises(TypeError, match="unexpected checkpoint arguments \\['use_reentrnt'\\]"):
        checkpoint_function({"use_reentrnt": False})
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    # offload on a CPU model changes nothing: the saved inputs already live on the host
    _assert_checkpointing_is_exact(model, _st_output(), offload=True, use_reentrant=False, preserve_rng_state=True)


def test_gradcache_with_checkpointing_equals_gradcache_without():
    from embedkit.sentence_transformer.losses import CachedMultipleNegativesRankingLoss

    anchors = ["what is a cat", "who built rome", "how tall is a giraffe", "where is paris"]
    positives = ["a cat is an animal", "rome was not built in a day", "giraffes are tall", "paris is in france"]

    def step(checkpointed: bool) -> dict:
        model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu").train()
        if checkpointed:
            model.gradient_checkpointing_enable()
        loss_fn = CachedMultipleNegativesRankingLoss(model, mini_batch_size=2)
        torch.manual_seed(0)
        loss = loss_fn([model.preprocess(anchors), model.preprocess(positives)], None)
        loss.backward()
        return {"loss": loss.detach(), **{n: p.grad for n, p in model.named_parameters() if p.grad is not None}}

    plain, ckpt = step(False), step(True)
    assert plain.keys() == ckpt.keys() and len(plain) > 1
    for key, value in plain.items():
        torch.testing.assert_close(ckpt[key], value, rtol=1e-6, atol=1e-7, msg=key)


@pytest.mark.parametrize("spelling", [
    {"gradient_checkpointing": True},
    {"activation_checkpointing": True, "activation_checkpointing_kwargs": '{"every_n_layers": 2}'},
])
def test_trainer_with_checkpointing_trains_the_same_weights(tmp_path, spelling):
    from embedkit.base.trainer import SentenceTransformerTrainer
    from embedkit.sentence_transformer.losses import MultipleNegativesRankingLoss

    data = {"anchor": [f"question {i} about cats" for i in range(8)],
            "positive": [f"answer {i}: cats sit on mats" for i in range(8)]}

    def train(extra: dict) -> tuple[dict, int]:
        model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
        calls = [0]
        for layer in _layers(model):
            layer.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
        args = Args(output_dir=str(tmp_path / str(len(extra))), max_steps=2, per_device_train_batch_size=4,
                    learning_rate=1e-3, save_strategy="no", disable_tqdm=True, **extra)
        SentenceTransformerTrainer(model, args, train_dataset=data, loss=MultipleNegativesRankingLoss(model)).train()
        return {k: v.clone() for k, v in model.state_dict().items()}, calls[0]

    plain, plain_calls = train({})
    ckpt, ckpt_calls = train(spelling)
    assert ckpt_calls > plain_calls
    for key, value in plain.items():
        torch.testing.assert_close(ckpt[key], value, rtol=1e-6, atol=1e-7, msg=key)


def test_training_arguments_resolve_the_former_names_as_transformers_does():
    assert Args(output_dir="o").activation_checkpointing is False
    assert Args(output_dir="o").gradient_checkpointing is False
    args = Args(output_dir="o", gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": True})
    assert args.activation_checkpointing is True and args.activation_checkpointing_kwargs == {"use_reentrant": True}
    args = Args(output_dir="o", activation_checkpointing=True, activation_checkpointing_kwargs='{"offload": true}')
    assert args.gradient_checkpointing is True and args.gradient_checkpointing_kwargs == {"offload": True}
    with pytest.raises(ValueError, match="activation_checkpointing_kwargs must be a dict"):
        Args(output_dir="o", activation_checkpointing_kwargs="{not json")


def test_reentrant_checkpointing_under_ddp_is_refused_before_training(tmp_path, monkeypatch):
    """DDP would see each recomputed layer's parameters become ready twice (a crash mid-step); the trainer says so
    up front. 2-process DDP with the default (non-reentrant) checkpointing is tested in tests/training."""
    from embedkit.base import trainer as trainer_module
    from embedkit.base.trainer import SentenceTransformerTrainer
    from embedkit.sentence_transformer.losses import MultipleNegativesRankingLoss

    monkeypatch.setattr(trainer_module.dist_utils, "get_world_size", lambda: 2)
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    args = Args(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, save_strategy="no",
                disable_tqdm=True, gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": True})
    trainer = SentenceTransformerTrainer(model, args, train_dataset={"anchor": ["a", "b"], "positive": ["c", "d"]},
                                         loss=MultipleNegativesRankingLoss(model))
    with pytest.raises(ValueError, match="use_reentrant=True cannot run under DDP"):
        trainer.train()


def test_a_model_with_checkpointing_on_pickles_and_copies():
    """Multi-process pools and deep copies take the model whole: the switch must not stop them."""
    import copy
    import pickle

    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    model.gradient_checkpointing_enable({"use_reentrant": False}, every_n_layers=1)
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert clone[0].auto_model.is_gradient_checkpointing
        assert _backward(clone.train(), _st_output())["calls"] == 2 * len(_layers(clone))  # still recomputes
