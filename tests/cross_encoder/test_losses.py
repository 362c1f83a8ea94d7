"""CrossEncoder losses: golden parity with sentence-transformers 6.2 (tests/generate_ce_loss_fixtures.py), GradCache
equivalence, listwise padding / mini-batch invariance, input validation.

Parity criterion (sentence-transformers' own): loss value within 1e-4 relative, total gradient norm within 1e-3.

MultipleNegativesRankingLoss samples its in-batch negatives with ``torch.multinomial``. The generator seeds torch
right before calling the reference loss and records what it drew; here we seed the same way and first check that
embedkit draws the very same indices (same mask, same call, same RNG state), then compare values and gradients.
One case takes all in-batch negatives (``num_negatives=None``), which involves no sampling at all.
"""

from __future__ import annotations

import inspect
import json
import math
from functools import cache
from pathlib import Path

import pytest
import torch
from torch import nn

from embedkit.cross_encoder import CrossEncoder, losses
from embedkit.cross_encoder.losses.adr_mse import adr_mse_loss
from embedkit.cross_encoder.losses.lambda_loss import lambda_loss
from embedkit.cross_encoder.losses.list_net import list_net_loss
from embedkit.cross_encoder.losses.plist_mle import plist_mle_loss

FIX = Path(__file__).parent.parent / "fixtures"
GOLDEN = json.loads((FIX / "ce_losses" / "ce_losses.json").read_text(encoding="utf-8"))
CASES = GOLDEN["cases"]
ROLES = {role: suffixes[1] for role, suffixes in GOLDEN["param_roles"].items()}
VALUE_RTOL, GRAD_RTOL = 1e-4, 1e-3
LISTWISE = ("ListNetLoss", "ListMLELoss", "PListMLELoss", "LambdaLoss", "RankNetLoss", "ADRMSELoss")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # the goldens were computed with one thread (same reduction order)
    yield
    torch.set_num_threads(previous)


@cache
def _model(name: str, double: bool) -> CrossEncoder:
    model = CrossEncoder(FIX / name, device="cpu")
    if double:
        model.double()
    head = GOLDEN["classifiers"][name]
    with torch.no_grad():  # the generator's "spreading" classifier (see its docstring)
        model.model.classifier.out.weight.copy_(torch.tensor(head["weight"]))
        model.model.classifier.out.bias.copy_(torch.tensor(head["bias"]))
    return model.eval()


def model(name: str = "ce_bert1", double: bool = False) -> CrossEncoder:
    """The fixture model; ``double=True`` gives a float64 copy for the equivalence tests, where fp32 noise of padding
    pairs to other lengths (amplified ~100x by the whitened classifier) would blur a tight comparison."""
    m = _model(name, double)
    m.zero_grad(set_to_none=True)
    return m


def resolve(value):
    if not isinstance(value, dict):
        return value
    if "tensor" in value:
        return torch.tensor(value["tensor"])
    if "module" in value:
        cls = getattr(losses, value["module"], None) or getattr(nn, value["module"])
        return cls(**value["kwargs"])
    raise ValueError(value)


def labels_of(spec):
    if spec["labels"] is None:
        return None
    dtype = torch.long if spec["labels_dtype"] == "long" else torch.float32
    if spec["loss"] in LISTWISE:
        return [torch.tensor(row, dtype=dtype) for row in spec["labels"]]
    return torch.tensor(spec["labels"], dtype=dtype)


def build(spec, double=False, loss_name=None, **overrides):
    kwargs = {k: resolve(v) for k, v in spec["kwargs"].items()}
    kwargs.update(overrides)
    return getattr(losses, loss_name or spec["loss"])(model(spec["model"], double), **kwargs)


def grad_norms(module: nn.Module) -> tuple[float, dict[str, float]]:
    total, roles = 0.0, {}
    for name, p in module.named_parameters():
        if p.grad is None:
            continue
        sq = float(p.grad.double().pow(2).sum())
        total += sq
        for role, suffix in ROLES.items():
            if name.endswith(suffix):
                roles[role] = roles.get(role, 0.0) + sq
    return math.sqrt(total), {k: math.sqrt(v) for k, v in roles.items()}


def grads(module: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


def assert_grads_close(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], rtol: float = 1e-6
                       ) -> None:
    """All gradients within ``rtol`` (as one vector), and each parameter's within ``rtol`` of the total norm."""
    assert actual.keys() == expected.keys()
    total = math.sqrt(sum(float(g.double().pow(2).sum()) for g in expected.values()))
    diff = math.sqrt(sum(float((actual[n].double() - g.double()).pow(2).sum()) for n, g in expected.items()))
    assert diff <= rtol * total, (diff, total)
    for name, g in expected.items():
        assert float((actual[name].double() - g.double()).norm()) <= rtol * total, name


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def run(loss, spec, seed=None):
    """Seed, compute, backpropagate; returns (value, the in-batch negatives drawn or None)."""
    draws = []
    if hasattr(loss, "sample_in_batch_negatives"):
        sample = loss.sample_in_batch_negatives

        def spy(*args):
            out = sample(*args)
            draws.append(out.tolist())
            return out

        loss.sample_in_batch_negatives = spy
    torch.manual_seed(spec["seed"] if seed is None else seed)
    out = loss(spec["columns"], labels_of(spec))
    out.backward()
    return float(out.detach()), (draws[0] if draws else None)


# ----------------------------------------------------------------------------- golden parity
@pytest.mark.parametrize("spec", CASES, ids=[c["name"] for c in CASES])
def test_value_and_gradients_match_sentence_transformers(spec):
    # Given the case's model (with the fixture classifier), texts, labels and seed
    loss = build(spec)
    # When we compute the loss and backpropagate
    value, draws = run(loss, spec)
    expected = spec["expected"]
    # Then the same negatives were drawn, and value and gradient norms match the reference
    if expected["draws"] is not None:
        assert draws == expected["draws"], "seeded torch.multinomial drew other negatives than sentence-transformers"
    assert rel(value, expected["value"]) <= VALUE_RTOL, (value, expected["value"])
    total, roles = grad_norms(loss)
    assert rel(total, expected["grad_norm"]) <= GRAD_RTOL, (total, expected["grad_norm"])
    assert set(roles) == set(expected["param_grad_norms"])
    for role, ref in expected["param_grad_norms"].items():
        assert rel(roles[role], ref) <= GRAD_RTOL, (role, roles[role], ref)


@pytest.mark.parametrize("spec", CASES, ids=[c["name"] for c in CASES])
def test_config_dict_and_citation_match_sentence_transformers(spec):
    loss = build(spec)
    expected = spec["expected"]
    if expected["config"] is not None:  # sentence-transformers' CrossEntropyLoss has no get_config_dict
        # Our own classes (weighting schemes, lambda weights) live at the same module names under embedkit.
        ours = {k: v.replace("embedkit.cross_encoder.", "sentence_transformers.cross_encoder.")
                if isinstance(v, str) else v for k, v in loss.get_config_dict().items()}
        assert ours == expected["config"]
    else:
        assert isinstance(loss.get_config_dict(), dict)
    assert getattr(loss, "citation", None) == expected["citation"]


@pytest.mark.parametrize("name", sorted(GOLDEN["signatures"]))
def test_constructor_signature_matches_sentence_transformers(name):
    params = list(inspect.signature(getattr(losses, name).__init__).parameters.values())[1:]
    ours = [[p.name, "<required>" if p.default is p.empty else
             (f"{type(p.default).__name__}()" if isinstance(p.default, nn.Module) else repr(p.default))]
            for p in params if p.kind is not p.VAR_KEYWORD]
    assert ours == GOLDEN["signatures"][name]


def test_losses_table_lists_every_loss():
    assert set(losses.LOSSES) == set(GOLDEN["signatures"])
    assert all(losses.LOSSES[name].__name__ == name for name in losses.LOSSES)


# ----------------------------------------------------------------------------- GradCache
def _spec(name):
    return next(c for c in CASES if c["name"] == name)


@pytest.mark.parametrize("mini_batch_size", [1, 4, 7, 1000])
def test_cached_mnrl_equals_uncached(mini_batch_size):
    # Given the same triplet batch, seed and model (dropout off)
    spec = _spec("mnrl_triplets_sampled")
    plain = build(spec, double=True)
    value_plain, draws_plain = run(plain, spec)
    grads_plain = grads(plain)
    cached = build(spec, double=True, loss_name="CachedMultipleNegativesRankingLoss", mini_batch_size=mini_batch_size)
    # When the cached loss is computed mini-batch by mini-batch
    value_cached, draws_cached = run(cached, spec)
    # Then it draws the same negatives and gives the same value and gradients
    assert draws_cached == draws_plain
    assert value_cached == pytest.approx(value_plain, rel=1e-9)
    assert_grads_close(grads(cached), grads_plain)


def test_cached_mnrl_replays_dropout_exactly():
    # Given the model in train mode (dropout on) and one mini-batch holding all pairs
    spec = _spec("mnrl_pairs_sampled")
    m = model(spec["model"], double=True).train()
    try:
        plain = build(spec, double=True)
        value_plain, _ = run(plain, spec)
        grads_plain = grads(plain)
        cached = build(spec, double=True, loss_name="CachedMultipleNegativesRankingLoss", mini_batch_size=1000)
        value_cached, _ = run(cached, spec)
        # Then the replay ran under the recorded RNG state: the same dropout masks, so the same gradients
        assert value_cached == pytest.approx(value_plain, rel=1e-9)
        assert_grads_close(grads(cached), grads_plain)
    finally:
        m.eval()


def test_cached_mnrl_without_grad_returns_the_plain_value():
    spec = _spec("cmnrl_triplets_sampled")
    loss = build(spec)
    torch.manual_seed(spec["seed"])
    with torch.no_grad():
        value = loss(spec["columns"], None)
    assert not value.requires_grad
    assert float(value) == pytest.approx(spec["expected"]["value"], rel=VALUE_RTOL)
    assert loss.uses_gradient_cache


# ----------------------------------------------------------------------------- listwise invariances
LIST_SPECS = [c for c in CASES if c["loss"] in LISTWISE]


@pytest.mark.parametrize("spec", LIST_SPECS, ids=[c["name"] for c in LIST_SPECS])
@pytest.mark.parametrize("mini_batch_size", [1, 3, 0])
def test_listwise_mini_batch_size_does_not_change_the_loss(spec, mini_batch_size):
    reference = build(spec, double=True, mini_batch_size=None)
    value_ref, _ = run(reference, spec)
    grads_ref = grads(reference)
    chunked = build(spec, double=True, mini_batch_size=mini_batch_size)
    value, _ = run(chunked, spec)
    assert value == pytest.approx(value_ref, rel=1e-6)
    assert_grads_close(grads(chunked), grads_ref)


def _functional(spec):
    kwargs = {k: resolve(v) for k, v in spec["kwargs"].items()}
    name = spec["loss"]
    if name == "ListNetLoss":
        return list_net_loss
    if name in ("ListMLELoss", "PListMLELoss"):
        weight = None if name == "ListMLELoss" else kwargs.get("lambda_weight", losses.PListMLELambdaWeight())
        order = kwargs.get("respect_input_order", True)
        return lambda logits, labels, mask: plist_mle_loss(logits, labels, mask, weight, order)
    if name in ("LambdaLoss", "RankNetLoss"):
        scheme = losses.NoWeightingScheme() if name == "RankNetLoss" else kwargs.get(
            "weighting_scheme", losses.NDCGLoss2PPScheme())
        extra = {k: kwargs[k] for k in ("k", "sigma", "eps", "reduction_log") if k in kwargs}
        return lambda logits, labels, mask: lambda_loss(logits, labels, mask, scheme, **extra)
    return lambda logits, labels, mask: adr_mse_loss(logits, labels, mask, kwargs.get("alpha", 1.0))


@pytest.mark.parametrize("spec", LIST_SPECS, ids=[c["name"] for c in LIST_SPECS])
def test_listwise_losses_ignore_padding(spec):
    # Given padded score/label matrices of a batch of lists of different lengths
    fn = _functional(spec)
    lengths = [len(row) for row in spec["labels"]]
    b, n = len(lengths), max(lengths)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(b, n, generator=gen, dtype=torch.float64) * 2
    labels = torch.zeros(b, n, dtype=torch.float64)
    mask = torch.zeros(b, n, dtype=torch.bool)
    for i, row in enumerate(spec["labels"]):
        labels[i, : len(row)] = torch.tensor(row, dtype=torch.float64)
        mask[i, : len(row)] = True
    # When the padded cells hold garbage and three more padding columns are added
    extra = 3
    wide_logits = torch.cat([logits.masked_fill(~mask, 0.0), torch.zeros(b, extra, dtype=torch.float64)], 1)
    wide_logits = wide_logits + torch.where(torch.cat([mask, torch.zeros(b, extra, dtype=torch.bool)], 1), 0.0,
                                            torch.randn(b, n + extra, generator=gen, dtype=torch.float64) * 50)
    wide_labels = torch.cat([labels, torch.full((b, extra), 7.0, dtype=torch.float64)], 1)
    wide_labels[:, :n] = torch.where(mask, labels, torch.tensor(9.0, dtype=torch.float64))
    wide_mask = torch.cat([mask, torch.zeros(b, extra, dtype=torch.bool)], 1)
    a = logits.clone().requires_grad_()
    value = fn(a, labels, mask)
    value.backward()
    w = wide_logits.clone().requires_grad_()
    wide_value = fn(w, wide_labels, wide_mask)
    wide_value.backward()
    # Then the loss and the gradients of the real scores are unchanged, and padding gets no gradient
    torch.testing.assert_close(wide_value, value, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(w.grad[:, :n][mask], a.grad[mask], rtol=1e-10, atol=1e-12)
    assert torch.all(w.grad[~wide_mask] == 0)


@pytest.mark.parametrize("name", ["ListNetLoss", "ListMLELoss", "PListMLELoss"])
def test_per_query_mean_losses_decompose_over_queries(name):
    # Given a batch of lists of different lengths, for losses that average a per-query loss
    spec = next(c for c in LIST_SPECS if c["loss"] == name and not c["kwargs"])
    loss = build(spec, double=True)
    queries, docs = spec["columns"]
    labels = labels_of(spec)
    with torch.no_grad():
        together = float(loss(spec["columns"], labels))
        alone = [float(loss([[q], [d]], [lab])) for q, d, lab in zip(queries, docs, labels)]
    # Then the batch loss is the mean of the single-query losses: other lists' padding has no effect
    assert together == pytest.approx(sum(alone) / len(alone), rel=1e-6)


def test_listwise_accepts_a_label_matrix_for_equal_length_lists():
    spec = _spec("listnet")
    queries, docs = spec["columns"]
    inputs = [queries[:2], [docs[0][:1], docs[1][:1]]]
    loss = build(spec)
    with torch.no_grad():
        as_list = loss(inputs, [torch.tensor([1.0]), torch.tensor([0.0])])
        as_matrix = loss(inputs, torch.tensor([[1.0], [0.0]]))
    assert float(as_list) == float(as_matrix)


# ----------------------------------------------------------------------------- validation
def test_single_label_losses_reject_multi_label_models():
    with pytest.raises(ValueError, match="1 output label"):
        losses.BinaryCrossEntropyLoss(model("ce_bert3"))
    with pytest.raises(ValueError, match="1 output label"):
        losses.LambdaLoss(model("ce_bert3"))
    with pytest.raises(ValueError, match="CrossEncoder"):
        losses.MSELoss(nn.Linear(2, 1))


def test_bad_inputs_raise_clear_errors():
    m = model()
    bce = losses.BinaryCrossEntropyLoss(m)
    with pytest.raises(ValueError, match="two non-label columns"):
        bce([["a"], ["b"], ["c"]], torch.tensor([1]))
    with pytest.raises(ValueError, match="one per example"):
        bce([["a", "b"], ["c", "d"]], torch.tensor([1, 0, 1]))
    with pytest.raises(ValueError, match="shape"):
        losses.MarginMSELoss(m)([["a"], ["b"], ["c"]], torch.tensor([[1.0, 2.0, 3.0]]))
    listnet = losses.ListNetLoss(m)
    with pytest.raises(ValueError, match="list of labels"):
        listnet([["q"], [["a", "b"]]], torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="does not match"):
        listnet([["q"], [["a", "b"]]], [torch.tensor([1.0])])
    with pytest.raises(ValueError, match="two inputs"):
        listnet([["q"]], [torch.tensor([1.0])])
    with pytest.raises(ValueError, match="at least one document"):
        listnet([["q", "r"], [["a"], []]], [torch.tensor([1.0]), torch.tensor([])])
    with pytest.raises(ValueError, match="reduction_log"):
        losses.LambdaLoss(m, reduction_log="ten")
    with pytest.raises(ValueError, match="mini_batch_size"):
        losses.CachedMultipleNegativesRankingLoss(m, mini_batch_size=0)
