"""The inference engine against the reference encoder: same outputs, a fallback wherever it could differ, nothing
kept between calls; its oneDNN kernels against F.linear; the frozen layers' contract."""

from __future__ import annotations

import importlib
import logging
import platform

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from embedkit.encoders import BertModel, EncoderConfig, MPNetModel
from embedkit.encoders import engine as engine_module
from embedkit.encoders.engine import (
    EngineOptions,
    FrozenEncoderLayer,
    InferenceEngine,
    onednn,
    optimize_for_inference,
)
from embedkit.encoders.layers import EncoderLayer, SelfAttention
from embedkit.quantization_int8 import Int8WeightLinear, SmoothedInt8Linear

X86 = platform.machine().lower() in ("x86_64", "amd64")
needs_onednn = pytest.mark.skipif(not X86, reason="the oneDNN ops exist on x86 CPUs only")
IDS = torch.tensor([[0, 5, 17, 33, 9, 2, 11], [0, 8, 2, 1, 1, 1, 1], [0, 44, 45, 46, 2, 1, 1]])
MASK = (IDS != 1).long()
REAL = MASK.bool()


def _encoder(kind: str, layers: int = 2) -> nn.Module:
    torch.manual_seed(0)
    common = {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": layers, "num_attention_heads": 4,
              "intermediate_size": 64}
    if kind == "bert":
        return BertModel(EncoderConfig(**common)).eval()
    return MPNetModel(EncoderConfig(model_type="mpnet", max_position_embeddings=514, **common)).eval()


def _run(encoder: nn.Module, ids=IDS, mask=MASK, **options):
    with torch.inference_mode():
        return InferenceEngine(encoder, **options)(ids, mask, output_hidden_states=True)


def _reference(encoder: nn.Module, ids=IDS, mask=MASK):
    with torch.inference_mode():
        return encoder(ids, mask, output_hidden_states=True)


@needs_onednn
def test_the_onednn_path_is_live_on_x86():
    # Without this, a torch upgrade that drops an op would silently turn the tests below into reference vs reference.
    assert onednn.onednn_available()
    assert onednn.onednn_applies(torch.zeros(2, 3), torch.zeros(4, 3))


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
@pytest.mark.parametrize("batch", ["one_query", "padded_batch"])
@pytest.mark.parametrize("options", [{}, {"onednn": True}, {"onednn": False}, {"pack_tokens": False}],
                         ids=["default", "onednn", "no_onednn", "no_packing"])
def test_engine_equals_the_reference_encoder(kind, batch, options):
    encoder = _encoder(kind)
    ids, mask = (IDS[:1], MASK[:1]) if batch == "one_query" else (IDS, MASK)
    got, want = _run(encoder, ids, mask, **options), _reference(encoder, ids, mask)
    real = mask.bool()
    assert len(got.hidden_states) == len(want.hidden_states) == 3
    for a, b in zip(got.hidden_states, want.hidden_states):
        torch.testing.assert_close(a[real], b[real], atol=1e-5, rtol=1e-5)
    if options.get("pack_tokens", True) and not bool(mask.all()):
        assert got.last_hidden_state[~real].abs().max() == 0  # packed: padding positions hold zeros


class MyAttention(SelfAttention):
    """A user's own attention: the engine cannot know what it computes."""


def _hook(encoder):
    return encoder.layers[0].attn.q.register_forward_hook(lambda module, args, out: out * 2)


# Each case: a way the engine could compute something the modules would not; it must run the modules instead,
# so its output is bitwise the reference's.
FALLBACK_CASES = {
    "training": lambda enc: enc.train(),
    "one_module_training": lambda enc: enc.layers[1].ffn.train(),
    "forward_hook": _hook,
    "pre_hook_on_a_norm": lambda enc: enc.layers[0].attn_norm.register_forward_pre_hook(lambda m, a: (a[0] * 0,)),
    "replaced_layer_type": lambda enc: enc.layers.__setitem__(0, type("MyLayer", (EncoderLayer,), {})(enc.config)),
    "replaced_attention": lambda enc: setattr(enc.layers[0], "attn", MyAttention(enc.config)),
}


@pytest.mark.parametrize("case", [*FALLBACK_CASES, "gradients"])
def test_anything_the_engine_could_get_wrong_runs_the_modules(case):
    encoder = _encoder("bert")
    if case == "gradients":
        engine = InferenceEngine(encoder)
        with torch.enable_grad():
            assert not engine.applies()
            got = engine(IDS, MASK).last_hidden_state
        assert torch.equal(got.detach(), _reference(encoder).last_hidden_state)
        return
    FALLBACK_CASES[case](encoder)
    engine = InferenceEngine(encoder)
    with torch.inference_mode():
        assert not engine.applies()
        torch.manual_seed(1)
        got = engine(IDS, MASK).last_hidden_state
        torch.manual_seed(1)
        want = encoder(IDS, MASK).last_hidden_state
    assert torch.equal(got, want)


def test_a_linear_of_another_type_is_called_as_a_module():
    encoder = _encoder("bert")
    want = _reference(encoder).last_hidden_state
    layer = encoder.layers[0].ffn
    layer.up = Int8WeightLinear(layer.up).eval()
    calls = []
    layer.up.forward = (lambda original: lambda x: calls.append(x.shape) or original(x))(layer.up.forward)
    with torch.inference_mode():
        assert InferenceEngine(encoder).applies()
    got = _run(encoder).last_hidden_state
    assert calls and calls[0] == (int(MASK.sum()), 32)  # the packed real tokens went through the int8 module
    torch.testing.assert_close(got[REAL], _reference(encoder).last_hidden_state[REAL], atol=1e-5, rtol=1e-5)
    assert (got[REAL] - want[REAL]).abs().max() > 1e-4  # and the int8 weights really were used


@needs_onednn
def test_packed_rows_are_not_padded_when_a_gemm_runs_as_a_module():
    """Rows past the N real tokens are only there for oneDNN's row counts; an int8 Linear (a module, not oneDNN)
    would compute them for nothing."""
    encoder = _encoder("bert")
    lengths = [7, 3, 5, 9, 11, 4]  # N = 39 real tokens; oneDNN's GEMMs would run at 40 rows
    ids = torch.ones(len(lengths), max(lengths), dtype=torch.long)
    for row, length in zip(ids, lengths):
        row[:length] = 7
    mask = (ids != 1).long()
    layer = encoder.layers[1].ffn
    layer.up = Int8WeightLinear(layer.up).eval()
    rows = []
    layer.up.forward = (lambda original: lambda x: rows.append(x.shape[0]) or original(x))(layer.up.forward)
    _run(encoder, ids, mask, onednn=True)
    assert onednn.row_count(39) == 40 and rows == [39]


def test_without_the_oneDNN_ops_the_engine_uses_plain_linears(monkeypatch, caplog):
    encoder = _encoder("mpnet")
    monkeypatch.setattr(onednn._Probe, "result", None)
    monkeypatch.setattr(onednn, "_probe", lambda: False)
    with caplog.at_level(logging.INFO, logger=onednn.__name__):
        got = _run(encoder).last_hidden_state
        _run(encoder)
    assert [r.message for r in caplog.records].count(
        "oneDNN linear ops unavailable on this machine/torch: inference uses the reference modules") == 1
    torch.testing.assert_close(got[REAL], _reference(encoder).last_hidden_state[REAL], atol=1e-5, rtol=1e-5)
    with caplog.at_level(logging.INFO):
        assert optimize_for_inference(encoder) == 0
    assert all(type(layer) is EncoderLayer for layer in encoder.layers)


def test_options_come_from_the_environment_once(monkeypatch):
    monkeypatch.delenv("EMBEDKIT_ONEDNN", raising=False)
    assert EngineOptions.from_environment().onednn is None  # unset: by the CPU's instruction set
    monkeypatch.setenv("EMBEDKIT_ONEDNN", "1")
    assert EngineOptions.from_environment().onednn is True
    monkeypatch.setenv("EMBEDKIT_ONEDNN", "0")
    monkeypatch.setenv("EMBEDKIT_PACK_TOKENS", "0")
    monkeypatch.delenv("EMBEDKIT_OPENMP_SMALL_CALLS", raising=False)
    assert EngineOptions.from_environment() == EngineOptions(onednn=False, pack_tokens=False, varlen_attention=True)
    assert EngineOptions.from_environment().openmp_small_calls is False
    monkeypatch.setenv("EMBEDKIT_OPENMP_SMALL_CALLS", "1")
    assert EngineOptions.from_environment().openmp_small_calls is True
    engine = InferenceEngine(_encoder("bert"))  # the defaults were read at import, not now
    default_onednn = engine_module.DEFAULT_OPTIONS.onednn
    if default_onednn is None:
        default_onednn = onednn.onednn_preferred()
    assert (engine.onednn, engine.pack_tokens) == (default_onednn, engine_module.DEFAULT_OPTIONS.pack_tokens)


@needs_onednn
def test_onednn_is_the_default_exactly_on_avx512_cpus(monkeypatch):
    monkeypatch.setattr(engine_module, "DEFAULT_OPTIONS", EngineOptions())  # as with no EMBEDKIT_* variable set
    for capability, preferred in [("AVX512", True), ("AVX2", False), ("DEFAULT", False)]:
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        assert onednn.onednn_preferred() is preferred
        assert InferenceEngine(_encoder("bert")).onednn is preferred  # with no option given, on no environment
        assert InferenceEngine(_encoder("bert"), onednn=True).onednn is True


def test_the_engine_keeps_nothing_between_calls():
    encoder = _encoder("bert")
    engine = InferenceEngine(encoder)
    before = dict(vars(engine))
    _run(encoder)
    engine(IDS, MASK)
    assert vars(engine) == before  # the encoder and the three options, nothing prepared


# --- the oneDNN kernels -------------------------------------------------------------------------------------------

EAGER = {None: lambda y: y, "gelu": F.gelu, "gelu_tanh": lambda y: F.gelu(y, approximate="tanh"), "relu": F.relu}


@needs_onednn
@pytest.mark.parametrize("activation", list(EAGER))
@pytest.mark.parametrize("rows", [0, 1, 7, 65, 1023, 1025, 2500])
def test_fused_linear_matches_f_linear(activation, rows):
    torch.manual_seed(0)
    x, weight, bias = torch.randn(rows, 48), torch.randn(40, 48), torch.randn(40)
    with torch.no_grad():
        got = onednn.fused_linear(x, weight, bias, activation=activation)
    torch.testing.assert_close(got, EAGER[activation](F.linear(x, weight, bias)), atol=1e-5, rtol=1e-5)


@needs_onednn
def test_fused_residual_takes_non_contiguous_input():
    x, weight, residual = torch.randn(48, 9).t(), torch.randn(40, 48), torch.randn(9, 40)
    with torch.no_grad():
        got = onednn.fused_linear(x, weight, None, residual=residual)
    torch.testing.assert_close(got, F.linear(x, weight) + residual, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="not both"):
        onednn.fused_linear(x, weight, None, activation="gelu", residual=residual)


def test_calls_run_at_a_bounded_set_of_row_counts():
    # oneDNN keeps one kernel per input shape; arbitrary row counts (one per batch) would grow memory without bound.
    seen = set()

    def record(rows, extra):
        seen.add(rows.shape[0])
        return rows[:, :3] * 2 + (0 if extra is None else extra)

    for total in range(0, 3000):
        x, residual = torch.randn(total, 5), torch.randn(total, 3)
        torch.testing.assert_close(onednn._in_row_blocks(record, x, residual, 3), x[:, :3] * 2 + residual)
    assert len(seen) <= 65 and max(seen) == onednn.ROW_BLOCK


@needs_onednn
@pytest.mark.parametrize("kind", ["bert", "mpnet"])
def test_packed_rows_reach_the_gemms_at_their_row_count_without_copies(kind, monkeypatch):
    """With oneDNN, a packed batch carries ``row_count(N)`` rows (the N real tokens, then zero rows), so no GEMM
    copies its input to pad it; the extra rows change nothing: every output equals, bitwise, that of a packing of
    exactly N rows, whose GEMMs pad their inputs (counted here, so the check can tell the two apart)."""
    encoder = _encoder(kind)
    lengths = [7, 3, 5, 9, 11, 4]  # N = 39 real tokens: GEMMs run at 40 rows
    ids = torch.ones(len(lengths), max(lengths), dtype=torch.long)  # 1 = padding
    for row, length in zip(ids, lengths):
        row[:length] = torch.randint(2, 100, (length,), generator=torch.Generator().manual_seed(length))
    mask = (ids != 1).long()
    copies = []
    pad_rows = onednn._pad_rows
    monkeypatch.setattr(onednn, "_pad_rows", lambda t, rows: copies.append(t.shape[0]) or pad_rows(t, rows))
    got = _run(encoder, ids, mask, onednn=True)
    assert onednn.row_count(sum(lengths)) == 40 and copies == []
    monkeypatch.setattr(engine_module, "row_count", lambda n: n)  # packed rows: the real tokens alone
    want = _run(encoder, ids, mask, onednn=True)
    assert copies and set(copies) == {39}
    assert len(got.hidden_states) == len(want.hidden_states) == 3
    for a, b in zip(got.hidden_states, want.hidden_states):
        assert torch.equal(a, b)


class _GemmCalls(TorchDispatchMode):
    """Records each oneDNN GEMM call: (op, in features, out features) -> the row counts and torch thread counts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[tuple, set[int]] = {}
        self.threads: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if str(func).startswith("mkldnn._linear_pointwise"):
            self.rows.setdefault((str(func), args[0].shape[-1], out.shape[-1]), set()).add(args[0].shape[:-1].numel())
            self.threads.add(torch.get_num_threads())
        return out


@needs_onednn
@pytest.mark.parametrize("kind", ["bert", "mpnet"])
def test_warm_up_runs_every_gemm_a_call_makes_at_every_row_count_on_the_calls_threads(kind):
    """oneDNN builds (and keeps) a kernel per GEMM, row count and thread count: any one the warm-up missed would be
    built, and its memory taken, during serving. Layers of both kinds (stock, frozen) are there; the warm-up must
    cover each GEMM a real call makes (batched and single texts, on two threads)."""
    encoder = _encoder(kind, layers=3)
    encoder.layers[1] = FrozenEncoderLayer(encoder.layers[1])
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with _GemmCalls() as warm:
            assert InferenceEngine(encoder, onednn=True).warm_up() == len(onednn.row_counts()) == 64
        with _GemmCalls() as real, torch.inference_mode():
            for ids, mask in ((IDS, MASK), (IDS[:1], MASK[:1])):
                InferenceEngine(encoder, onednn=True)(ids, mask)
    finally:
        torch.set_num_threads(threads)
    assert real.rows and set(real.rows) <= set(warm.rows)
    assert len(warm.rows) > 4  # the stock layer's four GEMMs and the frozen layer's own
    for site, counts in warm.rows.items():
        assert counts == set(onednn.row_counts()), site
    assert warm.threads == real.threads == {1}


def test_warm_up_does_nothing_where_no_onednn_kernel_would_be_built():
    training = _encoder("bert").train()
    hooked = _encoder("bert")
    hooked.layers[0].register_forward_hook(lambda *args: None)
    assert InferenceEngine(_encoder("bert"), onednn=False).warm_up() == 0  # MKL through F.linear: no kernel cache
    assert InferenceEngine(training, onednn=True).warm_up() == 0
    assert InferenceEngine(hooked, onednn=True).warm_up() == 0
    assert training.training  # left as it was


def test_feed_forward_blocks_equal_one_pass(monkeypatch):
    encoder = _encoder("bert")
    want = _run(encoder).last_hidden_state
    monkeypatch.setattr(engine_module, "FFN_BLOCK_ELEMENTS", 64 * 4)  # 4 rows per block
    sizes = []
    up = encoder.layers[0].ffn.up.weight
    blas_linear = engine_module.blas_linear
    monkeypatch.setattr(engine_module, "blas_linear",
                        lambda x, weight, *a: (weight is up and sizes.append(x.shape[0])) or blas_linear(x, weight, *a))
    got = _run(encoder, onednn=False).last_hidden_state
    assert sizes == [4, 4, 4, 3]  # the 15 real tokens in blocks of 4
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_half_precision_on_a_cpu_without_it_warns_once(monkeypatch):
    monkeypatch.setattr(onednn._Probe, "warned_half", False)
    monkeypatch.setattr(onednn._Probe, "native_bf16", False)
    encoder = _encoder("bert").to(torch.bfloat16)
    with pytest.warns(UserWarning, match="no native torch.bfloat16"):
        _run(encoder)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run(encoder)


# --- the frozen layers --------------------------------------------------------------------------------------------

@needs_onednn
@pytest.mark.parametrize("kind", ["bert", "mpnet"])
def test_frozen_layers_give_the_reference_outputs_and_save_the_original_weights(kind):
    encoder = _encoder(kind)
    want = _reference(encoder)
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    assert optimize_for_inference(encoder) == 2
    assert all(type(layer) is FrozenEncoderLayer for layer in encoder.layers)
    assert optimize_for_inference(encoder) == 0  # already frozen
    for ids, mask in ((IDS, MASK), (IDS[:1], MASK[:1])):
        got = _run(encoder, ids, mask).last_hidden_state
        real = mask.bool()
        torch.testing.assert_close(got[real], _reference(encoder, ids, mask).last_hidden_state[real], atol=1e-5,
                                   rtol=1e-5)
    torch.testing.assert_close(_reference(encoder).last_hidden_state, want.last_hidden_state, atol=1e-5, rtol=1e-5)
    saved = encoder.state_dict()
    assert list(saved) == list(state) or sorted(saved) == sorted(state)
    for key, value in state.items():
        assert torch.equal(saved[key], value), key  # bitwise: the reorder is undone exactly


@needs_onednn
def test_frozen_layers_refuse_training_moves_loading_and_gradients():
    encoder = _encoder("bert")
    state = encoder.state_dict()
    optimize_for_inference(encoder)
    with pytest.raises(RuntimeError, match="optimized for inference.*cannot be trained"):
        encoder.train()
    with pytest.raises(RuntimeError, match="cannot be moved"):
        encoder.to(torch.float64)
    encoder.to("cpu").float()  # no-op moves are fine
    with pytest.raises(RuntimeError, match="cannot be loaded into"):
        encoder.load_state_dict(state)
    x = torch.randn(1, 3, 32, requires_grad=True)
    with pytest.raises(RuntimeError, match="cannot be trained or differentiated"):
        encoder.layers[0](x, None)


@needs_onednn
def test_freezing_replaces_the_weights_instead_of_copying_them():
    encoder = _encoder("bert", layers=3)

    def tensor_bytes(module):
        found = {}
        for m in module.modules():
            for value in [*m._parameters.values(), *m._buffers.values(), *vars(m).values()]:
                if isinstance(value, torch.Tensor):
                    found[id(value)] = value.element_size() * value.nelement()
        return sum(found.values())

    before = tensor_bytes(encoder)
    optimize_for_inference(encoder)
    assert tensor_bytes(encoder) <= before + 3 * 3 * 32 * 4  # the stacked q/k/v biases are the only new tensors


@needs_onednn
@pytest.mark.parametrize("case", ["int8", "smoothed_int8_without_a_bias_attribute", "hook", "float64", "no_bias"])
def test_layers_the_frozen_path_cannot_take_stay_as_they_are(case):
    encoder = _encoder("bert")
    layer = encoder.layers[0]
    if case == "int8":
        layer.ffn.up = Int8WeightLinear(layer.ffn.up).eval()
    elif case == "smoothed_int8_without_a_bias_attribute":  # what model.quantize("int8") puts in
        up = layer.ffn.up
        layer.ffn.up = SmoothedInt8Linear(up, torch.ones(up.in_features), 0.5, use_torch_kernel=False).eval()
        assert not hasattr(layer.ffn.up, "bias")
    elif case == "hook":
        layer.attn.o.register_forward_hook(lambda m, a, out: out)
    elif case == "float64":
        encoder.double()
    else:
        layer.attn.k.bias = None
    reason = FrozenEncoderLayer.unsupported(layer)
    assert reason is not None
    optimize_for_inference(encoder)
    assert encoder.layers[0] is layer


@needs_onednn
def test_a_frozen_encoder_deep_copies_with_its_own_weights():
    import copy as copying

    encoder = _encoder("bert")
    optimize_for_inference(encoder)
    twin = copying.deepcopy(encoder)
    torch.testing.assert_close(_run(twin).last_hidden_state, _run(encoder).last_hidden_state, atol=0, rtol=0)
    assert twin.layers[0].qkv_weight is not encoder.layers[0].qkv_weight
    for a, b in zip(twin.state_dict().values(), encoder.state_dict().values()):
        assert torch.equal(a, b)


@needs_onednn
@pytest.mark.parametrize("avx512", [True, False])
def test_frozen_layers_send_big_calls_to_mkl_only_without_avx512(avx512, monkeypatch):
    frozen_module = importlib.import_module("embedkit.encoders.engine.frozen")
    encoder = _encoder("bert")
    want = _reference(encoder).last_hidden_state
    optimize_for_inference(encoder)
    monkeypatch.setattr(frozen_module, "onednn_preferred", lambda: avx512)
    monkeypatch.setattr(frozen_module, "FROZEN_BLAS_ROWS", 8)  # the 15 real tokens of IDS are a big call, 7 are not
    dense_calls = []
    dense = frozen_module._dense_blas_linear
    monkeypatch.setattr(frozen_module, "_dense_blas_linear", lambda x, *a, **kw: dense_calls.append(x.shape[0]) or
                        dense(x, *a, **kw))
    got = _run(encoder).last_hidden_state
    torch.testing.assert_close(got[REAL], want[REAL], atol=1e-5, rtol=1e-5)
    assert dense_calls == ([] if avx512 else [15] * 8)  # 2 layers x (qkv, o, up, down)
    dense_calls.clear()
    _run(encoder, IDS[:1], MASK[:1])  # 7 rows: always the prepared weights
    assert dense_calls == []
