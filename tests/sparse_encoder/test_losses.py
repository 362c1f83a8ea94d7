"""SparseEncoder losses vs sentence-transformers 6.2 (goldens from tests/generate_sparse_loss_fixtures.py).

Every case runs the model in train mode with all dropout at 0 (as the generator does): loss components, total value
and total gradient norm must match; CachedSpladeLoss must equal SpladeLoss for any mini-batch size; the warm-up
callback must reproduce ST's weights; misuse must raise ST's errors.
"""

from __future__ import annotations

import builtins
import json
import math
from functools import lru_cache
from pathlib import Path

import pytest
import torch
from torch import nn

from embedkit.base.trainer import TrainerControl, TrainerState
from embedkit.sparse_encoder import SparseEncoder
from embedkit.sparse_encoder import losses as se_losses
from embedkit.sparse_encoder.callbacks import SpladeRegularizerWeightSchedulerCallback
from embedkit.sparse_encoder.modules.sparse_auto_encoder import SparseAutoEncoder
from tests.conftest import FIXTURES

GOLDEN = FIXTURES / "se_losses" / "st_sparse_losses.json"
VALUE_RTOL = 1e-4
GRAD_RTOL = 1e-3


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tensors are tiny: with 2+ intra-op threads on a shared, busy CPU every parallel region waits for a
    descheduled thread, which made this module ~20x slower. One thread is also faster when the CPU is idle."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@lru_cache(maxsize=1)
def golden() -> dict:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def cases() -> list[dict]:
    return golden()["cases"]


def model_folder(name: str) -> Path:
    return FIXTURES / name if name == "se_bert_v6" else FIXTURES / "se_losses" / name


@lru_cache(maxsize=None)
def _loaded(name: str) -> SparseEncoder:
    return SparseEncoder(str(model_folder(name)), device="cpu")


def load_model(name: str) -> SparseEncoder:
    """A fresh copy in train mode with every dropout at 0 (deterministic, like the generator)."""
    import copy

    model = copy.deepcopy(_loaded(name)).train()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "dropout_p", None), float):
            module.dropout_p = 0.0
    return model


def teacher(seed: int, shape: list[int]) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    values = torch.rand(*shape, generator=gen)
    return values * (torch.rand(*shape, generator=gen) < 0.05)


def labels_for(spec: dict, vocab: int) -> torch.Tensor | None:
    info = spec["labels"]
    if info is None:
        return None
    if "values" in info:
        return torch.tensor(info["values"], dtype=torch.float32)
    n_cols = len(spec["columns"])
    shape = [golden()["batch_size"], n_cols, vocab] if info["per_column"] else [golden()["batch_size"], vocab]
    return teacher(info["teacher_seed"], shape)


def build(spec: dict, model: SparseEncoder, outer: str | None = None, **overrides) -> nn.Module:
    """The case's loss with embedkit (``outer`` / ``overrides`` replace the wrapper class / its kwargs)."""
    inner_kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["inner_kwargs"].items()}
    inner = getattr(se_losses, spec["inner"])(model, **inner_kwargs) if spec["inner"] else None
    if spec["outer"] is None:
        return inner
    cls = getattr(se_losses, outer or spec["outer"])
    return cls(model, loss=inner, **{**spec["outer_kwargs_resolved"], **overrides})


def grad_norm(model: nn.Module) -> float:
    return math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in model.parameters() if p.grad is not None))


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def run(spec: dict, **overrides) -> tuple[dict | None, float, float, SparseEncoder]:
    model = load_model(spec["model"])
    features = [model.preprocess(col) for col in spec["columns"]]
    loss = build(spec, model, **overrides)
    labels = labels_for(spec, model.get_embedding_dimension())
    out = loss(features, labels)
    components = None
    if isinstance(out, dict):
        components = {k: float(v.detach()) for k, v in out.items()}
        out = sum(out.values())
    out.backward()
    return components, float(out.detach()), grad_norm(model), model


@pytest.mark.parametrize("spec", cases(), ids=lambda c: c["name"])
def test_matches_sentence_transformers(spec):
    components, value, norm, _ = run(spec)
    expected = spec["expected"]
    if expected["components"] is None:
        assert components is None
    else:
        assert list(components) == list(expected["components"])  # same keys, same order
        for key, want in expected["components"].items():
            assert rel(components[key], want) <= VALUE_RTOL, (key, components[key], want)
    assert rel(value, expected["value"]) <= VALUE_RTOL, (value, expected["value"])
    assert rel(norm, expected["grad_norm"]) <= GRAD_RTOL, (norm, expected["grad_norm"])


@pytest.mark.parametrize("spec", cases(), ids=lambda c: c["name"])
def test_config_and_citation(spec):
    loss = build(spec, None)  # the config does not depend on the model
    expected = spec["expected"]
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in loss.get_config_dict().items()}
    assert config == expected["config"]
    assert loss.citation == expected["citation"]
    if expected["inner_config"] is not None:
        inner = {k: (list(v) if isinstance(v, tuple) else v) for k, v in loss.loss.get_config_dict().items()}
        assert inner == expected["inner_config"]
        assert loss.loss.citation == expected["inner_citation"]


def _mnrl_spec() -> dict:
    return next(c for c in cases() if c["name"] == "splade_mnrl_hard_negative")


@pytest.mark.parametrize("mini_batch_size", [1, 3, 4])
def test_cached_equals_uncached(mini_batch_size):
    spec = _mnrl_spec()
    plain_parts, plain_value, _, plain_model = run(spec)
    cached_parts, cached_value, _, cached_model = run(spec, outer="CachedSpladeLoss", mini_batch_size=mini_batch_size)
    assert list(cached_parts) == list(plain_parts)
    for key in plain_parts:
        assert cached_parts[key] == pytest.approx(plain_parts[key], rel=1e-5, abs=1e-7)
    assert cached_value == pytest.approx(plain_value, rel=1e-5)
    # fp32: the plain loss pads merged columns together, the cached one trims each mini-batch, so the sums differ
    # in rounding; gradients that are exactly zero in exact arithmetic (attention key biases) are pure noise.
    plain = torch.cat([p.grad.flatten() for p in plain_model.parameters() if p.grad is not None])
    cached = torch.cat([p.grad.flatten() for p in cached_model.parameters() if p.grad is not None])
    assert plain.shape == cached.shape
    assert float((cached - plain).norm() / plain.norm()) < 1e-3
    torch.testing.assert_close(cached, plain, rtol=0, atol=1e-3 * float(plain.abs().max()))


def test_cached_eval_returns_same_components():
    spec = _mnrl_spec()
    model = load_model(spec["model"])
    features = [model.preprocess(col) for col in spec["columns"]]
    with torch.no_grad():
        plain = build(spec, model)(features, None)
        cached = build(spec, model, outer="CachedSpladeLoss", mini_batch_size=2)(features, None)
    assert list(plain) == list(cached)
    for key in plain:
        assert float(cached[key]) == pytest.approx(float(plain[key]), rel=1e-5)


def test_cached_splade_exposes_splade_attributes():
    model = load_model("se_bert_v6")
    inner = se_losses.SparseMultipleNegativesRankingLoss(model)
    loss = se_losses.CachedSpladeLoss(model, inner, 3e-5, 5e-5, mini_batch_size=2)
    assert loss.loss is inner and loss.document_regularizer_weight == 3e-5 and loss.query_regularizer_weight == 5e-5
    loss.document_regularizer_weight = 1.0
    assert loss.splade.document_regularizer_weight == 1.0
    with pytest.raises(ValueError, match="mini_batch_size"):
        se_losses.CachedSpladeLoss(model, inner, 3e-5, mini_batch_size=0)


# ---------------------------------------------------------------- misuse errors
STANDALONE = ["SparseMultipleNegativesRankingLoss", "SparseMarginMSELoss", "SparseCoSENTLoss", "SparseAnglELoss",
              "SparseCosineSimilarityLoss", "SparseTripletLoss", "SparseDistillKLDivLoss", "FlopsLoss"]


@pytest.mark.parametrize("name", STANDALONE)
def test_standalone_use_raises_like_st(name):
    model = load_model("se_bert_v6")
    features = [model.preprocess(["a", "b"]), model.preprocess(["c", "d"])]
    kind, message = golden()["errors"][name]
    with pytest.raises(getattr(builtins, kind)) as info:
        getattr(se_losses, name)(model)(features, None)
    assert str(info.value) == message


def test_other_misuse_errors_match_st():
    errors = golden()["errors"]
    model = load_model("se_bert_v6")
    with pytest.raises(NotImplementedError) as info:
        se_losses.CSRReconstructionLoss(model)([model.preprocess(["a"])])
    assert [type(info.value).__name__, str(info.value)] == errors["CSRReconstructionLoss"]
    with pytest.raises(ValueError) as info:
        se_losses.SpladeLoss(model, loss=nn.MSELoss(), document_regularizer_weight=1.0)
    assert [type(info.value).__name__, str(info.value)] == errors["SpladeLoss_no_compute_loss_from_embeddings"]
    with pytest.raises(ValueError) as info:
        SpladeRegularizerWeightSchedulerCallback(se_losses.SparseMSELoss(model))
    assert [type(info.value).__name__, str(info.value)] == errors["callback_not_splade"]


# ---------------------------------------------------------------- warm-up schedule
@pytest.mark.parametrize("schedule", golden()["schedules"], ids=lambda s: f"{s['scheduler_type']}-{s['max_steps']}")
def test_warmup_callback_follows_st(schedule):
    loss = se_losses.SpladeLoss(None, se_losses.SparseMultipleNegativesRankingLoss(None),
                                document_regularizer_weight=3e-5,
                                query_regularizer_weight=schedule["query_regularizer_weight"])
    callback = SpladeRegularizerWeightSchedulerCallback(loss, scheduler_type=schedule["scheduler_type"],
                                                        warmup_ratio=schedule["warmup_ratio"])
    state = TrainerState(max_steps=schedule["max_steps"])
    callback.on_train_begin(None, state, TrainerControl())
    for step, (document, query) in enumerate(schedule["weights"]):
        state.global_step = step
        callback.on_step_begin(None, state, TrainerControl())
        assert loss.document_regularizer_weight == pytest.approx(document, rel=1e-12, abs=0)
        if query is None:
            assert loss.query_regularizer_weight is None
        else:
            assert loss.query_regularizer_weight == pytest.approx(query, rel=1e-12, abs=0)
    logs: dict = {}
    callback.on_log(None, state, TrainerControl(), logs=logs)
    assert logs["document_regularizer_weight"] == loss.document_regularizer_weight


# ---------------------------------------------------------------- pieces
def test_flops_threshold_masks_sparse_rows():
    emb = torch.tensor([[1.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    assert se_losses.FlopsLoss(None, threshold=1).compute_loss_from_embeddings(emb).item() == pytest.approx(
        (0.5**2 + 1.0**2 + 1.5**2))
    assert se_losses.FlopsLoss(None).compute_loss_from_embeddings(emb).item() == pytest.approx(1 + 1 + 1.5**2)


def test_sparse_loss_reads_inner_attributes_and_sets_cosine():
    model = load_model("se_bert_v6")
    assert model.similarity_fn_name == "dot"
    loss = se_losses.SparseCoSENTLoss(model, scale=7.0)
    assert loss.scale == 7.0 and model.similarity_fn_name == "cosine"
    mnrl = se_losses.SparseMultipleNegativesRankingLoss(model)
    assert mnrl.scale == 1.0 and mnrl.similarity_fct.__name__ == "dot_score"


def test_sparse_auto_encoder_round_trip(tmp_path):
    torch.manual_seed(0)
    sae = SparseAutoEncoder(6, 12, k=3, k_aux=4)
    with torch.no_grad():
        sae.latent_bias.normal_()
        sae.stats_last_nonzero.copy_(torch.arange(12) * 5)
    sae.save(tmp_path)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:  # sentence-transformers' key names
        assert sorted(f.keys()) == ["decoder.linear.weight", "latent_bias", "pre_bias", "stats_last_nonzero"]
    loaded = SparseAutoEncoder.load(tmp_path)
    x = torch.randn(5, 6)
    with torch.inference_mode():
        a = sae({"sentence_embedding": x})["sentence_embedding"]
        b = loaded({"sentence_embedding": x}, max_active_dims=2)["sentence_embedding"]
    assert torch.equal(loaded.stats_last_nonzero, sae.stats_last_nonzero)
    assert ((a != 0).sum(1) <= 3).all() and ((b != 0).sum(1) <= 2).all()


def test_csr_model_save_load_round_trip(tmp_path):
    model = _loaded("csr_bert")
    model.save(str(tmp_path / "csr"))
    again = SparseEncoder(str(tmp_path / "csr"), device="cpu")
    texts = ["a cat sits", "rain today"]
    assert torch.equal(model.encode(texts, convert_to_sparse_tensor=False),
                       again.encode(texts, convert_to_sparse_tensor=False))
