"""Edits to a model that has already encoded must show in its next outputs: no stale weight copies, ever.

embedkit once kept reordered copies of the weights for small calls and judged them current by version counter plus 16
sampled elements; an in-place edit through ``.data`` that spared the first elements (``q.weight.data[8:].zero_()``)
was ignored by the next single-query encode. The default inference path now reads the modules and weights live.

Every case of :func:`test_change_is_seen` (one per kind of change x BERT/MPNet x SentenceTransformer / CrossEncoder /
SparseEncoder, where the change applies) follows the same protocol:

1. load a committed tiny fixture in eval mode and warm it: one single-text encode, three short texts, then a batch
   of 45 texts of mixed lengths (2 to ~90 tokens, so padding and packing are involved; 48 pairs for CrossEncoder);
2. apply one kind of change (the ``CHANGES`` table: in-place edits through ``.data``, NumPy and DLPack views,
   ``load_state_dict``, ``copy_``, optimizer steps, submodule swaps, dtype round trips, construction under
   ``inference_mode``, hooks, module attributes, classifier / pooler / Dense / MLM heads);
3. encode again (single first, then few, then batch: ``encode`` for SentenceTransformer and SparseEncoder,
   ``predict`` on pairs for CrossEncoder, with raw logits since a sigmoid would flatten differences) and compare
   with a model loaded fresh from the same folder and given the same change BEFORE its first encode. The two must
   hold exactly the same state dict (and module types, ``act``, ``n_heads``) and give the same outputs: max abs diff
   <= 1e-6 x max(1, max |expected|). The scale only matters for SparseEncoder's sum-pooled MPNet, whose values reach
   ~80; the other outputs stay below 1, so there the bound is a plain 1e-6. bfloat16 runs use 1e-2;
4. check the change really changed every output: max abs diff to the warm outputs > 1e-4 and > 10x the case's
   tolerance, so no case passes vacuously. Changes that can be undone (hooks) must give back the original outputs
   once removed.

The fresh twin is built by repeating the change deterministically, never by loading the changed model's state dict
(``load_state_dict`` is one of the kinds under test); step 3's state-dict check proves both hold the same weights.
Two more tests edit repeatedly between single encodes, and encode the batch first after an edit.

The frozen fast path (``optimize_for_inference()``) has its own tests at the end: same outputs as the default path,
``train()`` and dtype/device moves refused (and leaving the model as it was), save + load giving the original weights,
no growth of the tensors reachable from the model nor of all live tensors. They skip with "frozen path not built yet"
only while the method does not exist (and, on machines without oneDNN's ops, the tests that need a frozen model).

Each test runs on both GEMM routes of the default path (the ``gemm_route`` fixture). Run (about a minute on 2 idle
cores)::

    python -m pytest tests/encoders/test_staleness.py -q -p no:cacheprovider
    python -m pytest tests/encoders/test_staleness.py -q -p no:cacheprovider -k "q_tail_zero-bert-st"
"""

from __future__ import annotations

import copy
import gc
import json
import platform
import re
import types
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch._subclasses.fake_tensor import is_fake

from embedkit import CrossEncoder, SentenceTransformer, SparseEncoder
from embedkit.encoders.layers import ACTIVATIONS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FOLDERS = {
    ("st", "bert"): "tiny_bert_v6",  # BERT + mean pooling + Dense(32 -> 16, tanh) + Normalize
    ("st", "mpnet"): "tiny_mpnet_v6",
    ("ce", "bert"): "ce_bert1",  # one label: sigmoid scores
    ("ce", "mpnet"): "ce_mpnet1",
    ("se", "bert"): "se_bert_v6",  # SPLADE: MLM head, max pooling, relu
    ("se", "mpnet"): "se_mpnet_v6",  # SPLADE: MLM head, sum pooling, log1p(relu)
}
CLASSES: dict[str, type] = {"st": SentenceTransformer, "ce": CrossEncoder, "se": SparseEncoder}
MODEL_TYPES = ("st", "ce", "se")
FAMILIES = ("bert", "mpnet")

EXACT = 1e-6  # max abs diff allowed between a changed model and its fresh twin (times max(1, max |expected|))
CHANGED = 1e-4  # min max abs diff between the outputs before and after a change
BF16 = 1e-2  # a model run in bfloat16 against its fresh twin in bfloat16 (~2 bf16 ulps at 1.0)
FROZEN = 1e-5  # optimize_for_inference() against the default path


@pytest.fixture(autouse=True, params=["onednn", "blas"])
def gemm_route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs once per GEMM route of the default path: fused oneDNN ops (the default on AVX-512 CPUs) and
    ``F.linear`` (the default on AVX2-only CPUs), whatever this machine's default is."""
    from embedkit.encoders import engine

    monkeypatch.setattr(engine, "DEFAULT_OPTIONS", replace(engine.DEFAULT_OPTIONS, onednn=request.param == "onednn"))
    return request.param


# ---------------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Corpus:
    """The inputs every case encodes: one text, a few short ones, a mixed-length batch (and the same as pairs)."""

    single: str
    few: list[str]
    batch: list[str]
    pair: tuple[str, str]
    few_pairs: list[tuple[str, str]]
    batch_pairs: list[tuple[str, str]]
    train_texts: list[str]
    train_pairs: list[tuple[str, str]]


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    texts = json.loads((FIXTURES / "texts.json").read_text(encoding="utf-8"))
    # every text cut to 100 characters (2 to ~90 tokens): lengths still vary a lot, so the batch is padded (or
    # packed) heavily, and the file stays fast (uncut, a few 512-token texts would dominate its run time)
    real, tiny, long = ([t[:100] for t in texts[key]] for key in ("real", "tiny", "long"))
    batch = real + tiny + long
    assert len(batch) >= 40 and len({len(t) for t in batch}) > 20
    pairs = [(a[:100], b[:100]) for a, b in texts["pairs"]]
    batch_pairs = pairs + list(zip(batch, batch[7:] + batch[:7], strict=True))
    return Corpus(
        single=pairs[0][0],  # "What is the capital of France?"
        few=[real[0], tiny[0], real[3]],
        batch=batch,
        pair=pairs[0],
        few_pairs=[pairs[0], (real[1], real[2]), (tiny[0], real[5])],
        batch_pairs=batch_pairs,
        train_texts=real[8:16],
        train_pairs=list(zip(real[16:24], real[24:32], strict=True)),
    )


@dataclass(frozen=True)
class Ctx:
    mtype: str
    family: str
    corpus: Corpus


# ---------------------------------------------------------------------------------------------------- models


def _load(ctx: Ctx) -> nn.Module:
    model = CLASSES[ctx.mtype](str(FIXTURES / FOLDERS[ctx.mtype, ctx.family]), device="cpu")
    return model.eval()


def _encoder(model: nn.Module, mtype: str) -> nn.Module:
    """The BertModel / MPNetModel inside a SentenceTransformer, CrossEncoder or SparseEncoder."""
    return model.model.encoder if mtype == "ce" else model[0].auto_model


def _layers(model: nn.Module, mtype: str) -> nn.ModuleList:
    return _encoder(model, mtype).layers


def _outputs(model: nn.Module, ctx: Ctx, order: tuple[str, ...] = ("single", "few", "batch")) -> dict[str, Tensor]:
    """What a user sees: one text, a few short texts, the mixed-length batch (one padded batch of 45)."""
    c = ctx.corpus
    if ctx.mtype == "ce":
        inputs: dict[str, Any] = {"single": c.pair, "few": c.few_pairs, "batch": c.batch_pairs}

        def run(x: Any, **kw: Any) -> Any:  # raw logits: the sigmoid would flatten the differences
            return model.predict(x, convert_to_tensor=True, activation_fn=nn.Identity(), **kw)
    else:
        inputs = {"single": c.single, "few": c.few, "batch": c.batch}
        if ctx.mtype == "st":
            def run(x: Any, **kw: Any) -> Any:
                return model.encode(x, convert_to_tensor=True, **kw)
        else:
            def run(x: Any, **kw: Any) -> Any:
                return model.encode(x, convert_to_sparse_tensor=False, **kw)  # dense (V,) / (B, V)

    out = {}
    for key in order:
        value = run(inputs[key], batch_size=64) if key == "batch" else run(inputs[key])
        out[key] = torch.as_tensor(value).detach().to("cpu", torch.float64).clone()
    return out


def _scale(expected: Tensor) -> float:
    return max(1.0, expected.abs().max().item()) if expected.numel() else 1.0


def _assert_close(got: dict[str, Tensor], want: dict[str, Tensor], tol: float, what: str) -> None:
    assert got.keys() == want.keys()
    for key, expected in want.items():
        value = got[key]
        assert value.shape == expected.shape, f"{what} [{key}]: shapes {value.shape} vs {expected.shape}"
        assert torch.isfinite(value).all(), f"{what} [{key}]: non-finite outputs"
        diff = (value - expected).abs().max().item() if expected.numel() else 0.0
        bound = tol * _scale(expected)
        assert diff <= bound, f"{what} [{key}]: max abs diff {diff:.3g} > {bound:.3g}"


def _assert_changed(after: dict[str, Tensor], before: dict[str, Tensor], what: str, tol: float = EXACT) -> None:
    """The change moved every output by more than ``CHANGED``, and by more than 10x the tolerance of the case's
    equality check (else a model that ignored the change could pass it)."""
    for key, original in before.items():
        assert original.numel() > 0, f"{what} [{key}]: empty output"
        diff = (after[key] - original).abs().max().item()
        bound = max(CHANGED, 10 * tol * _scale(after[key]))
        assert diff > bound, (
            f"{what} [{key}]: the change moved the output by only {diff:.3g} <= {bound:.3g} (vacuous case)")


def _assert_same_state(a: nn.Module, b: nn.Module) -> None:
    """Both models hold the same weights (dtype and value, exactly), module types and layer attributes."""
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, f"{key}: {sa[key].dtype} vs {sb[key].dtype}"
        assert torch.equal(sa[key], sb[key]), f"the changed model and its fresh twin differ in {key}"
    for (na, ma), (nb, mb) in zip(a.named_modules(), b.named_modules(), strict=True):
        assert na == nb and type(ma) is type(mb), f"{na} ({type(ma).__name__}) vs {nb} ({type(mb).__name__})"
        for attr in ("act", "n_heads"):
            assert getattr(ma, attr, None) == getattr(mb, attr, None), f"{na}.{attr}"


# ---------------------------------------------------------------------------------------------------- the changes


@dataclass(frozen=True)
class Change:
    """One kind of change. ``apply`` returns what ``undo`` needs (hooks) or None."""

    id: str
    apply: Callable[[nn.Module, Ctx], Any]
    mtypes: tuple[str, ...] = MODEL_TYPES
    families: tuple[str, ...] = FAMILIES
    tol: float = EXACT
    undo: Callable[[nn.Module, Any], None] | None = None
    build: Callable[[Ctx], nn.Module] | None = None
    """How the changed model is built and first used (default: :func:`_load`); its fresh twin always uses _load."""
    prepare: Callable[[nn.Module, Ctx], None] | None = None
    """Applied to both models right after loading, before anything else (see :func:`_sharpen_attention`)."""


def _sharpen_attention(model: nn.Module, ctx: Ctx) -> None:
    """Scale q and k by 5 in every layer. The tiny fixtures attend almost uniformly, so a change that only reshapes
    attention (q rows, the head count) would move a single query's output by ~1e-5; sharpened, by 5e-4 or more."""
    for layer in _layers(model, ctx.mtype):
        layer.attn.q.weight.data.mul_(5.0)
        layer.attn.k.weight.data.mul_(5.0)


def _q_tail_zero(model: nn.Module, ctx: Ctx) -> None:
    _layers(model, ctx.mtype)[0].attn.q.weight.data[8:].zero_()  # rows 0-7 (head 0) untouched


def _ablate_head(model: nn.Module, ctx: Ctx) -> None:
    """Zero head 1's rows of q/k/v weight and bias in every layer, through ``.data`` (element 0 untouched)."""
    for layer in _layers(model, ctx.mtype):
        head = layer.attn.q.out_features // layer.attn.n_heads
        rows = slice(head, 2 * head)
        for proj in (layer.attn.q, layer.attn.k, layer.attn.v):
            proj.weight.data[rows] = 0.0
            proj.bias.data[rows] = 0.0


def _ablate_head_weights_only(model: nn.Module, ctx: Ctx) -> None:
    """As ``_ablate_head`` but biases kept: only weight rows change, none of them among the first 16 elements."""
    for layer in _layers(model, ctx.mtype):
        head = layer.attn.q.out_features // layer.attn.n_heads
        for proj in (layer.attn.q, layer.attn.k, layer.attn.v):
            proj.weight.data[head : 2 * head] = 0.0


def _numpy_view_tail(model: nn.Module, ctx: Ctx) -> None:
    view = _layers(model, ctx.mtype)[0].ffn.up.weight.detach().numpy()  # shares memory, no version bump
    view[16:] *= 0.5


def _dlpack_view_tail(model: nn.Module, ctx: Ctx) -> None:
    alias = torch.from_dlpack(_layers(model, ctx.mtype)[-1].attn.v.weight.detach())  # own version counter
    assert alias.data_ptr() == _layers(model, ctx.mtype)[-1].attn.v.weight.data_ptr()
    alias[8:].mul_(-1.0)


_PERTURBED = re.compile(r"layers\.\d+\.(attn\.k|ffn\.down)\.weight$")


def _load_state_dict_perturbed(model: nn.Module, ctx: Ctx) -> None:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    gen = torch.Generator().manual_seed(17)
    hit = 0
    for key in sorted(state):
        if _PERTURBED.search(key):
            flat = state[key].view(-1)
            flat[16:] += 0.2 * torch.randn(flat.numel() - 16, generator=gen, dtype=flat.dtype)
            hit += 1
    assert hit >= 4
    model.load_state_dict(state)


def _copy_under_no_grad(model: nn.Module, ctx: Ctx) -> None:
    param = _layers(model, ctx.mtype)[-1].ffn.down.weight
    new = param.detach().clone()
    new.view(-1)[8:] *= -1.0
    with torch.no_grad():
        param.copy_(new)


def _train_step(make_optimizer: Callable[[Iterator[nn.Parameter]], torch.optim.Optimizer]) -> Callable:
    def apply(model: nn.Module, ctx: Ctx) -> None:
        """One optimizer step on a real loss (InfoNCE for ST/SE, BCE for CE), dropout on, seeded."""
        model.train()
        torch.manual_seed(1234)
        c = ctx.corpus
        if ctx.mtype == "ce":
            logits = model(model.preprocess(c.train_pairs))["scores"].view(-1)  # (8,)
            labels = torch.tensor([1.0, 0.0] * (len(c.train_pairs) // 2))
            loss = F.binary_cross_entropy_with_logits(logits, labels)
        else:
            emb = model(model.preprocess(c.train_texts))["sentence_embedding"]  # (8, D) or (8, V)
            a, b = emb[:4], emb[4:]
            scale = 20.0 if ctx.mtype == "st" else 1.0
            loss = F.cross_entropy(a @ b.T * scale, torch.arange(4))
        optimizer = make_optimizer(model.parameters())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.zero_grad(set_to_none=True)
        model.eval()

    return apply


def _swap_ffn_up(model: nn.Module, ctx: Ctx) -> None:
    layer = _layers(model, ctx.mtype)[0]
    old = layer.ffn.up
    new = nn.Linear(old.in_features, old.out_features)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        new.weight.copy_(0.1 * torch.randn(old.weight.shape, generator=gen))
        new.bias.copy_(old.bias.flip(0))
    layer.ffn.up = new


def _replace_layer_with_copy(model: nn.Module, ctx: Ctx) -> None:
    layers = _layers(model, ctx.mtype)
    layers[-1] = copy.deepcopy(layers[0])  # the old last layer is freed here: its id() may be reused


def _float64_edit_roundtrip(model: nn.Module, ctx: Ctx) -> None:
    model.to(torch.float64)
    weight = _layers(model, ctx.mtype)[0].ffn.down.weight
    assert weight.dtype == torch.float64
    with torch.no_grad():
        weight.view(-1)[8:].mul_(0.75).add_(1e-3)
    model.to(torch.float32)


def _float64_edit(model: nn.Module, ctx: Ctx) -> None:
    model.to(torch.float64)
    with torch.no_grad():
        _layers(model, ctx.mtype)[0].ffn.down.weight.view(-1)[8:].mul_(0.75).add_(1e-3)


def _to_bf16(model: nn.Module, ctx: Ctx) -> None:
    """Move to bfloat16, then edit weights there: bf16 rounding alone moves some outputs by less than 1e-4, and the
    edit must move them by more than 10x the bf16 tolerance (see ``_assert_changed``)."""
    model.to(torch.bfloat16)
    for layer in _layers(model, ctx.mtype):
        layer.attn.q.weight.data[8:].zero_()
        layer.attn.o.weight.data[8:].mul_(-1.0)
        layer.ffn.down.weight.data[:, 8:].mul_(-1.0)


def _bf16_roundtrip(model: nn.Module, ctx: Ctx) -> None:
    _to_bf16(model, ctx)
    model.to(torch.float32)


def _build_in_inference_mode(ctx: Ctx) -> nn.Module:
    """Construction and the first encode inside ``torch.inference_mode()`` (inference tensors as weights)."""
    with torch.inference_mode():
        model = _load(ctx)
        first = _outputs(model, ctx)
    _assert_close(first, _outputs(_load(ctx), ctx), EXACT, "built in inference_mode vs built normally")
    return model


def _edit_in_inference_mode(model: nn.Module, ctx: Ctx) -> None:
    with torch.inference_mode():  # inference tensors may only be edited in place inside inference mode
        _layers(model, ctx.mtype)[0].attn.q.weight.data[8:].zero_()
        _layers(model, ctx.mtype)[-1].ffn.up.bias.data[4:].add_(0.5)


def _forward_hook(model: nn.Module, ctx: Ctx) -> Any:
    return _layers(model, ctx.mtype)[0].ffn.down.register_forward_hook(lambda mod, args, out: out * 1.5)


def _forward_pre_hook(model: nn.Module, ctx: Ctx) -> Any:
    return _layers(model, ctx.mtype)[0].ffn.down.register_forward_pre_hook(
        lambda mod, args: (args[0] * -1.0, *args[1:]))


def _global_forward_hook(model: nn.Module, ctx: Ctx) -> Any:
    target = _layers(model, ctx.mtype)[0].attn.o
    return nn.modules.module.register_module_forward_hook(
        lambda mod, args, out: out * 1.5 if mod is target else None)


def _remove_hook(model: nn.Module, handle: Any) -> None:
    handle.remove()


def _other_activation(current: str) -> str:
    assert current in ACTIVATIONS.values(), current
    return "relu" if current != "relu" else "gelu"


def _ffn_act(model: nn.Module, ctx: Ctx) -> None:
    ffn = _layers(model, ctx.mtype)[-1].ffn
    ffn.act = _other_activation(ffn.act)


def _n_heads(model: nn.Module, ctx: Ctx) -> None:
    attn = _layers(model, ctx.mtype)[-1].attn
    assert attn.q.out_features % (attn.n_heads // 2) == 0
    attn.n_heads //= 2  # 4 -> 2 heads of 16


def _layernorm_tail(model: nn.Module, ctx: Ctx) -> None:
    _layers(model, ctx.mtype)[-1].attn_norm.weight.data[8:].mul_(0.5)


def _rel_bias_tail(model: nn.Module, ctx: Ctx) -> None:
    _encoder(model, ctx.mtype).rel_bias.weight.data[1:].mul_(-3.0)  # every bucket but 0 (MPNet only)


def _classifier_tail(model: nn.Module, ctx: Ctx) -> None:
    linears = [m for m in model.model.classifier.modules() if isinstance(m, nn.Linear)]
    assert linears
    for linear in linears:
        linear.weight.data.view(-1)[8:].mul_(-2.0)


def _pooler_tail(model: nn.Module, ctx: Ctx) -> None:
    _encoder(model, ctx.mtype).pooler.dense.weight.data[8:].mul_(-1.0)


def _st_dense_tail(model: nn.Module, ctx: Ctx) -> None:
    dense = [m for m in model if isinstance(getattr(m, "linear", None), nn.Linear)]
    assert len(dense) == 1
    dense[0].linear.weight.data[4:].mul_(-1.0)


def _mlm_transform_tail(model: nn.Module, ctx: Ctx) -> None:
    model[0].mlm_head.dense.weight.data[8:].mul_(-1.0)


def _mlm_bias_tail(model: nn.Module, ctx: Ctx) -> None:
    bias = model[0].mlm_head.bias
    bias.data[bias.numel() // 2 :].add_(2.0)


def _mlm_decoder_tail(model: nn.Module, ctx: Ctx) -> None:
    """The decoder weight: its own Linear if untied, else the word embeddings it is tied to."""
    head = model[0].mlm_head
    weight = head.decoder.weight if head.decoder is not None else _encoder(model, ctx.mtype).embed.tok.weight
    weight.data[weight.shape[0] // 2 :].mul_(1.5).add_(0.05)


CHANGES = [
    # in place through .data, element 0 untouched
    Change("data_q_tail_zero", _q_tail_zero, prepare=_sharpen_attention),
    Change("data_ablate_head1_every_layer", _ablate_head),
    Change("data_ablate_head1_weights_only_every_layer", _ablate_head_weights_only),
    Change("data_layernorm_tail", _layernorm_tail),
    Change("data_rel_bias_tail", _rel_bias_tail, families=("mpnet",)),
    # views that bypass the parameter's version counter
    Change("numpy_view_tail", _numpy_view_tail),
    Change("dlpack_view_tail", _dlpack_view_tail),
    # whole-tensor writes
    Change("load_state_dict_perturbed", _load_state_dict_perturbed),
    Change("copy_under_no_grad", _copy_under_no_grad),
    # optimizer steps (fused and foreach update in place without going through autograd)
    Change("adamw_fused_step", _train_step(lambda p: torch.optim.AdamW(p, lr=1e-2, fused=True))),
    Change("adamw_foreach_step", _train_step(lambda p: torch.optim.AdamW(p, lr=1e-2, foreach=True))),
    Change("sgd_step", _train_step(lambda p: torch.optim.SGD(p, lr=0.5))),
    # new module objects
    Change("swap_ffn_up_linear", _swap_ffn_up),
    Change("replace_layer_with_deepcopy", _replace_layer_with_copy),
    # dtype moves
    Change("float64_edit_then_float32", _float64_edit_roundtrip),
    Change("float64_edit_encode_in_float64", _float64_edit),
    Change("bfloat16_edit_encode_in_bfloat16", _to_bf16, tol=BF16),
    Change("bfloat16_edit_then_float32", _bf16_roundtrip),
    # construction inside inference_mode, then an edit
    Change("built_in_inference_mode_then_edit", _edit_in_inference_mode, build=_build_in_inference_mode),
    # hooks registered after warm-up, then removed
    Change("forward_hook_scale_then_removed", _forward_hook, undo=_remove_hook),
    Change("forward_pre_hook_then_removed", _forward_pre_hook, undo=_remove_hook),
    Change("global_forward_hook_then_removed", _global_forward_hook, undo=_remove_hook),
    # module attributes
    Change("attr_ffn_act_last_layer", _ffn_act),
    # MPNet's relative position bias has one column per head, so only BERT can change its head count
    Change("attr_n_heads_last_layer", _n_heads, families=("bert",), prepare=_sharpen_attention),
    # heads
    Change("ce_classifier_tail", _classifier_tail, mtypes=("ce",)),
    Change("ce_bert_pooler_tail", _pooler_tail, mtypes=("ce",), families=("bert",)),
    Change("st_dense_module_tail", _st_dense_tail, mtypes=("st",), families=("bert",)),
    Change("se_mlm_transform_tail", _mlm_transform_tail, mtypes=("se",)),
    Change("se_mlm_bias_tail", _mlm_bias_tail, mtypes=("se",)),
    Change("se_mlm_decoder_tail", _mlm_decoder_tail, mtypes=("se",)),
]

CASES = [
    pytest.param(change, family, mtype, id=f"{change.id}-{family}-{mtype}")
    for change in CHANGES
    for family in change.families
    for mtype in change.mtypes
]


@pytest.mark.parametrize("change, family, mtype", CASES)
def test_change_is_seen(change: Change, family: str, mtype: str, corpus: Corpus) -> None:
    ctx = Ctx(mtype, family, corpus)
    undo: list[tuple[nn.Module, Any]] = []
    try:
        model = change.build(ctx) if change.build is not None else _load(ctx)
        if change.prepare is not None:
            change.prepare(model, ctx)
        before = _outputs(model, ctx)  # warm: single, few, then the 45-text batch
        undo.append((model, change.apply(model, ctx)))
        after = _outputs(model, ctx)  # the single text first: the case the old copies got wrong

        fresh = _load(ctx)
        if change.prepare is not None:
            change.prepare(fresh, ctx)
        undo.append((fresh, change.apply(fresh, ctx)))  # before its first encode
        _assert_same_state(model, fresh)
        expected = _outputs(fresh, ctx)

        _assert_close(after, expected, change.tol, f"{change.id}: warm model vs fresh model with the change")
        _assert_changed(after, before, change.id, change.tol)

        if change.undo is not None:
            for target, token in reversed(undo):
                change.undo(target, token)
            undo.clear()
            _assert_close(_outputs(model, ctx), before, EXACT, f"{change.id}: undone, vs the original outputs")
            _assert_close(_outputs(fresh, ctx), before, EXACT, f"{change.id}: fresh model undone, vs the original")
    finally:
        if change.undo is not None:
            for target, token in reversed(undo):
                change.undo(target, token)


@pytest.mark.parametrize("family", FAMILIES)
def test_batch_first_after_edit(family: str, corpus: Corpus) -> None:
    """The same protocol with the big batch encoded first after the edit (a single-text call must not be what
    refreshes the batch path)."""
    ctx = Ctx("st", family, corpus)
    order = ("batch", "few", "single")
    model = _load(ctx)
    before = _outputs(model, ctx)
    _ablate_head(model, ctx)
    _numpy_view_tail(model, ctx)
    after = _outputs(model, ctx, order)
    fresh = _load(ctx)
    _ablate_head(fresh, ctx)
    _numpy_view_tail(fresh, ctx)
    _assert_same_state(model, fresh)
    _assert_close(after, _outputs(fresh, ctx, order), EXACT, "batch first")
    _assert_changed(after, before, "batch first")


@pytest.mark.parametrize("family", FAMILIES)
def test_repeated_edits_between_single_encodes(family: str, corpus: Corpus) -> None:
    """Edit, encode one text, edit again, encode again: each encode sees the weights of that moment."""
    ctx = Ctx("st", family, corpus)
    model = _load(ctx)
    model.encode(corpus.batch, batch_size=64)

    def edit(target: nn.Module, step: int) -> None:
        # whole rows from row 2 on: the first 128 elements stay as they were
        _layers(target, "st")[step % 2].ffn.down.weight.data[2 + step :].mul_(-1.5)

    previous = model.encode(corpus.single, convert_to_tensor=True)
    for step in range(3):
        edit(model, step)
        got = model.encode(corpus.single, convert_to_tensor=True)
        twin = _load(ctx)  # given every edit so far before its first encode
        for done in range(step + 1):
            edit(twin, done)
        _assert_same_state(model, twin)
        want = twin.encode(corpus.single, convert_to_tensor=True)
        diff = (got - want).abs().max().item()
        assert diff <= EXACT, f"step {step}: max abs diff {diff:.3g}"
        assert (got - previous).abs().max().item() > CHANGED, f"step {step}: the edit did not change the output"
        previous = got


# ---------------------------------------------------------------------------------------------------- frozen path


def _has_onednn_ops() -> bool:
    """The oneDNN ops the frozen path needs, probed independently of embedkit."""
    ops = torch.ops.mkldnn
    return (
        platform.machine().lower() in ("x86_64", "amd64")
        and torch.backends.mkldnn.is_available()
        and hasattr(ops, "_linear_pointwise")
        and hasattr(ops, "_reorder_linear_weight")
    )


def _frozen_api(mtype: str) -> None:
    """Skip while ``optimize_for_inference`` does not exist; once it does, nothing here skips on x86."""
    if not hasattr(CLASSES[mtype], "optimize_for_inference"):
        pytest.skip("frozen path not built yet")


def _freeze(model: nn.Module) -> nn.Module:
    if not hasattr(model, "optimize_for_inference"):
        pytest.skip("frozen path not built yet")
    returned = model.optimize_for_inference()
    assert returned is model, "optimize_for_inference() must return the model"
    if _has_onednn_ops():
        assert model.optimized_for_inference is True
    return model


def _require_frozen(model: nn.Module) -> None:
    """For tests of what only a frozen model does (train() and moves raising)."""
    if not model.optimized_for_inference:
        assert not _has_onednn_ops()
        pytest.skip("no oneDNN ops on this machine: optimize_for_inference stays on the default path")


FROZEN_CASES = [pytest.param(mtype, family, id=f"{family}-{mtype}") for family in FAMILIES for mtype in MODEL_TYPES]


@pytest.mark.parametrize("mtype, family", FROZEN_CASES)
def test_frozen_matches_default(mtype: str, family: str, corpus: Corpus) -> None:
    _frozen_api(mtype)
    ctx = Ctx(mtype, family, corpus)
    model = _load(ctx)
    default = _outputs(model, ctx)
    _freeze(model)
    _assert_close(_outputs(model, ctx), default, FROZEN, "frozen vs default path")
    _assert_close(_outputs(model, ctx, ("batch", "few", "single")), default, FROZEN, "frozen, batch first")


def _frozen_model(mtype: str, family: str, corpus: Corpus) -> tuple[Ctx, Any, dict[str, Tensor]]:
    """A loaded, frozen model of the case, with its outputs right after freezing."""
    _frozen_api(mtype)
    ctx = Ctx(mtype, family, corpus)
    model = _freeze(_load(ctx))
    _require_frozen(model)
    return ctx, model, _outputs(model, ctx)


@pytest.mark.parametrize("mtype, family", FROZEN_CASES)
def test_frozen_train_raises(mtype: str, family: str, corpus: Corpus) -> None:
    ctx, model, frozen = _frozen_model(mtype, family, corpus)
    with pytest.raises(RuntimeError, match="optimi[sz]e"):  # a message that says why
        model.train()
    with pytest.raises(RuntimeError):
        model.train(True)
    assert not any(m.training for m in model.modules()), "a refused train() left modules in training mode"
    assert model.eval() is model  # eval() stays allowed
    _assert_close(_outputs(model, ctx), frozen, EXACT, "after the refused train()")


@pytest.mark.parametrize("mtype, family", FROZEN_CASES)
def test_frozen_move_raises(mtype: str, family: str, corpus: Corpus) -> None:
    ctx, model, frozen = _frozen_model(mtype, family, corpus)
    state = {k: (v.dtype, v.device) for k, v in model.state_dict().items()}
    for target in (torch.float64, torch.bfloat16, torch.float16, "meta"):
        with pytest.raises(Exception):  # noqa: B017 (the spec says "raises", not which type)
            model.to(target)
        moved = {k: (v.dtype, v.device) for k, v in model.state_dict().items()}
        assert moved == state, f"a refused .to({target}) moved weights"
    _assert_close(_outputs(model, ctx), frozen, EXACT, "after the refused moves")
    # no-op moves stay allowed
    assert model.to(torch.float32) is model
    assert model.to("cpu") is model
    _assert_close(_outputs(model, ctx), frozen, EXACT, "after no-op moves")


@pytest.mark.parametrize("mtype, family", FROZEN_CASES)
def test_frozen_save_roundtrip(mtype: str, family: str, corpus: Corpus, tmp_path: Path) -> None:
    _frozen_api(mtype)
    ctx = Ctx(mtype, family, corpus)
    model = _load(ctx)
    original_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    default = _outputs(model, ctx)
    _freeze(model)
    model.save(str(tmp_path / "frozen"))
    loaded = CLASSES[mtype](str(tmp_path / "frozen"), device="cpu").eval()
    _assert_close(_outputs(loaded, ctx), default, EXACT, "saved frozen model, loaded again, vs before freezing")
    loaded_state = loaded.state_dict()
    assert list(loaded_state) == list(original_state)
    for key, value in original_state.items():
        assert torch.equal(loaded_state[key], value), f"{key} changed through freeze + save"
    # the frozen model still works after saving
    _assert_close(_outputs(model, ctx), default, FROZEN, "frozen model after save")


def _tensor_bytes(obj: Any, seen_storages: set[Any]) -> int:
    if isinstance(obj, Tensor):
        if obj.device.type == "meta" or is_fake(obj):  # dynamo's traced stand-ins hold no memory
            return 0
        if obj.layout != torch.strided:  # oneDNN-blocked (opaque) or sparse: no plain storage to share
            key = ("opaque", id(obj))
            size = obj.numel() * obj.element_size()
        else:
            storage = obj.untyped_storage()
            key, size = ("storage", storage.data_ptr()), storage.nbytes()
    else:  # NumPy
        base = obj
        while isinstance(base.base, np.ndarray):
            base = base.base
        key, size = ("numpy", base.__array_interface__["data"][0]), base.nbytes
    if key in seen_storages:
        return 0
    seen_storages.add(key)
    return size


_LEAVES = (str, bytes, int, float, complex, bool, type(None), type, types.ModuleType, torch.dtype, torch.device)


def reachable_tensor_bytes(model: nn.Module) -> int:
    """Bytes of every tensor (and NumPy array) reachable from ``model``: parameters, buffers, tensors held as plain
    attributes, in containers, or in the closures of functions held by the modules. Storages shared by several
    tensors count once."""
    seen_objects: set[int] = set()
    seen_storages: set[Any] = set()
    total = 0
    stack: list[Any] = [model]
    while stack:
        obj = stack.pop()
        if id(obj) in seen_objects or isinstance(obj, _LEAVES):
            continue
        seen_objects.add(id(obj))
        if isinstance(obj, (Tensor, np.ndarray)):
            total += _tensor_bytes(obj, seen_storages)
            if isinstance(obj, Tensor) and obj.__dict__:  # attributes set on a tensor
                stack.extend(obj.__dict__.values())
            continue
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif isinstance(obj, types.FunctionType):
            stack.extend(cell.cell_contents for cell in obj.__closure__ or () if _cell_filled(cell))
            stack.extend(obj.__defaults__ or ())
            continue
        elif isinstance(obj, types.MethodType):
            stack.append(obj.__self__)
            continue
        if hasattr(obj, "__dict__") and not isinstance(obj, type):
            stack.extend(vars(obj).values())
        for slot in getattr(type(obj), "__slots__", ()):
            if isinstance(slot, str) and hasattr(obj, slot):
                stack.append(getattr(obj, slot))
        if len(seen_objects) > 500_000:
            raise AssertionError("the object graph reachable from the model is implausibly large")
    return total


def _cell_filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def live_tensor_bytes() -> int:
    """Bytes of every tensor the garbage collector knows of (storages counted once): catches module-level caches."""
    gc.collect()
    seen: set[Any] = set()
    with warnings.catch_warnings():  # isinstance() on some deprecated torch objects warns
        warnings.simplefilter("ignore")
        tensors = [obj for obj in gc.get_objects() if isinstance(obj, Tensor)]
    return sum(_tensor_bytes(obj, seen) for obj in tensors)


@pytest.mark.parametrize("mtype, family", FROZEN_CASES)
def test_frozen_memory_does_not_grow(mtype: str, family: str, corpus: Corpus) -> None:
    _frozen_api(mtype)
    ctx = Ctx(mtype, family, corpus)
    model = _load(ctx)
    _outputs(model, ctx)  # both measurements on a warm model
    check_live = family == "bert"  # the process-wide count is slow (gc walk): once per model class is enough
    reachable_before = reachable_tensor_bytes(model)
    live_before = live_tensor_bytes() if check_live else 0
    _freeze(model)
    _require_frozen(model)
    _outputs(model, ctx)
    reachable_after = reachable_tensor_bytes(model)
    live_after = live_tensor_bytes() if check_live else 0
    assert reachable_after <= reachable_before, (
        f"tensors reachable from the model grew from {reachable_before} to {reachable_after} bytes")
    # everything alive in the process: a module-level cache of reordered weights would show here. 4 KiB of slack
    # for incidental small tensors; one copy of the tiny model's layer weights is ~66 KB.
    assert live_after <= live_before + 4096, f"live tensors grew from {live_before} to {live_after} bytes"


def test_reachable_tensor_bytes_sees_hidden_copies() -> None:
    """The memory walk is not blind: a weight copy held as a plain attribute, in a closure or in a list counts."""
    layer = nn.Linear(16, 16)
    base = reachable_tensor_bytes(layer)
    assert base == (16 * 16 + 16) * 4
    layer.copy_attr = layer.weight.detach().clone()
    assert reachable_tensor_bytes(layer) == base + 16 * 16 * 4
    hidden = layer.weight.detach().clone()
    layer.fn = lambda x: x @ hidden
    layer.cache = [{"w": layer.weight.detach().clone()}]
    assert reachable_tensor_bytes(layer) == base + 3 * 16 * 16 * 4
    layer.alias = layer.weight.detach()  # same storage: not counted twice
    assert reachable_tensor_bytes(layer) == base + 3 * 16 * 16 * 4
