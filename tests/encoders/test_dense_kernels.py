"""The oneDNN linear path: same values and gradients as F.linear, bitwise-stable across autograd modes, and it
steps aside for hooked, non-Linear, autocast and non-fp32 calls."""

from __future__ import annotations

import platform
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from embedkit.encoders import dense_kernels
from embedkit.encoders.dense_kernels import fused_linear, linear, onednn_available

X86 = platform.machine().lower() in ("x86_64", "amd64")
EAGER = {
    None: lambda y: y,
    "gelu": F.gelu,
    "gelu_tanh": lambda y: F.gelu(y, approximate="tanh"),
    "relu": F.relu,
    "tanh": torch.tanh,
}


def _layer(inp: int = 48, out: int = 40, bias: bool = True) -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(inp, out, bias=bias)


@pytest.mark.skipif(not X86 or not torch.backends.mkldnn.is_available(), reason="oneDNN path is x86-only")
def test_onednn_path_is_live_on_x86():
    # Without this, a torch upgrade that drops the op would silently turn every test below into F.linear vs F.linear.
    assert onednn_available()
    assert dense_kernels._onednn_applies(torch.zeros(2, 3), torch.zeros(4, 3))


@pytest.mark.parametrize("activation", list(EAGER))
@pytest.mark.parametrize("shape", [(7, 48), (3, 5, 48), (0, 48)])
def test_fused_activation_matches_eager(activation, shape):
    layer = _layer()
    x = torch.randn(*shape)
    with torch.no_grad():
        got = linear(layer, x, activation=activation)
        want = EAGER[activation](F.linear(x, layer.weight, layer.bias))
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_fused_residual_matches_eager_and_non_contiguous_input():
    layer = _layer(bias=False)
    x = torch.randn(48, 9).t()  # (9, 48), not contiguous
    residual = torch.randn(9, 40)
    with torch.no_grad():
        got = linear(layer, x, residual=residual)
    torch.testing.assert_close(got, F.linear(x, layer.weight) + residual, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="not both"):
        linear(layer, x, activation="gelu", residual=residual)


@pytest.mark.parametrize("activation", [None, "gelu"])
def test_gradients_match_f_linear(activation):
    layer = _layer()
    x = torch.randn(2, 11, 48, requires_grad=True)
    upstream = torch.randn(2, 11, 40)
    (linear(layer, x, activation=activation) * upstream).sum().backward()
    got = (x.grad, layer.weight.grad, layer.bias.grad)
    x.grad = layer.weight.grad = layer.bias.grad = None
    (EAGER[activation](F.linear(x, layer.weight, layer.bias)) * upstream).sum().backward()
    for a, b in zip(got, (x.grad, layer.weight.grad, layer.bias.grad)):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-5)


def test_frozen_weights_still_give_input_gradients():
    layer = _layer().requires_grad_(False)
    x = torch.randn(6, 48, requires_grad=True)
    linear(layer, x).sum().backward()
    torch.testing.assert_close(x.grad, layer.weight.sum(0).expand(6, -1), atol=1e-5, rtol=1e-5)
    assert layer.weight.grad is None


def test_same_values_with_and_without_autograd():
    # GradCache's replay (with autograd) must reproduce its first pass (without) bit for bit.
    layer = _layer()
    x = torch.randn(300, 48)
    with torch.no_grad():
        plain = linear(layer, x, activation="gelu")
    tracked = linear(layer, x.requires_grad_(), activation="gelu")
    assert torch.equal(plain, tracked.detach())


def test_hooked_and_wrapped_layers_are_called_as_modules():
    layer = _layer()
    seen = []
    handle = layer.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape))
    with torch.no_grad():
        linear(layer, torch.randn(4, 48))
    handle.remove()
    assert seen == [torch.Size([4, 48])]

    class Scaled(nn.Module):  # e.g. an int8 or adapter layer: not an nn.Linear
        def forward(self, x):
            return 2 * x

    torch.testing.assert_close(linear(Scaled(), torch.ones(2, 3), activation="relu"), torch.full((2, 3), 2.0))


def test_other_dtypes_and_autocast_fall_back_to_f_linear():
    layer = _layer().double()
    x = torch.randn(5, 48, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fused_linear(x, layer.weight, layer.bias), F.linear(x, layer.weight, layer.bias))
    layer = _layer()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert linear(layer, torch.randn(5, 48)).dtype == torch.bfloat16


def test_switch_off(monkeypatch):
    monkeypatch.setattr(dense_kernels, "_available", None)
    monkeypatch.setenv("EMBEDKIT_ONEDNN", "0")
    assert not onednn_available()


def _small_call(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return linear(layer, x)


@pytest.mark.parametrize("update", ["fused_adamw", "data_inplace", "inplace", "replace_data", "load_state_dict",
                                    "bias_replace_data", "bias_data_inplace", "bias_replaced"])
def test_packed_copy_follows_every_kind_of_weight_update(update):
    # Small inference calls run on a cached reordered copy of the weight; it must never go stale.
    layer = _layer().eval()
    x = torch.randn(3, 48)
    _small_call(layer, x)  # makes the cached copy
    new = torch.randn_like(layer.weight)
    if update == "fused_adamw":  # updates in place without bumping the version counter
        layer.weight.grad = torch.randn_like(layer.weight)
        torch.optim.AdamW([layer.weight], lr=0.5, fused=True).step()
    elif update == "data_inplace":
        layer.weight.data.copy_(new)
    elif update == "inplace":
        with torch.no_grad():
            layer.weight.copy_(new)
    elif update == "replace_data":
        layer.weight.data = new.clone()
    elif update == "bias_replace_data":
        layer.bias.data = torch.randn_like(layer.bias)
    elif update == "bias_data_inplace":
        layer.bias.data.add_(1.0)
    elif update == "bias_replaced":
        layer.bias = nn.Parameter(torch.randn_like(layer.bias))
    else:
        layer.load_state_dict({"weight": new, "bias": layer.bias.detach().clone()})
    torch.testing.assert_close(_small_call(layer, x), F.linear(x, layer.weight, layer.bias), atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(not X86 or not dense_kernels.native_cpu_bf16(), reason="needs a CPU with native bf16")
@pytest.mark.parametrize("rows", [5, 300])  # small calls use the reordered copy, big ones the plain weight
def test_bf16_model_runs_on_onednn_like_f_linear(rows):
    layer = _layer().bfloat16().eval()
    x = torch.randn(rows, 48).bfloat16()
    assert dense_kernels._onednn_applies(x, layer.weight)
    with torch.no_grad():
        got = linear(layer, x, residual=torch.ones(rows, 40, dtype=torch.bfloat16))
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got, F.linear(x, layer.weight, layer.bias) + 1, atol=2e-2, rtol=1e-2)  # bf16 rounding


def test_half_precision_on_a_cpu_without_it_warns_once(monkeypatch):
    monkeypatch.setattr(dense_kernels, "_native_bf16", False)
    monkeypatch.setattr(dense_kernels, "_warned_half", False)
    with pytest.warns(UserWarning, match="no native torch.bfloat16"):
        dense_kernels.warn_if_emulated_half_precision(torch.zeros(2, dtype=torch.bfloat16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dense_kernels.warn_if_emulated_half_precision(torch.zeros(2, dtype=torch.bfloat16))  # once only
        monkeypatch.setattr(dense_kernels, "_warned_half", False)
        dense_kernels.warn_if_emulated_half_precision(torch.zeros(2))  # fp32: never


def test_calls_run_at_a_bounded_set_of_row_counts():
    # oneDNN keeps one kernel per input shape; arbitrary row counts (one per batch) would grow memory without bound.
    seen = set()

    def record(rows, extra):
        seen.add(rows.shape[0])
        return rows[:, :3] * 2 + (0 if extra is None else extra)

    for total in range(0, 3000, 1):
        x = torch.randn(total, 5)
        residual = torch.randn(total, 3)
        out = dense_kernels._in_row_blocks(record, x, residual, 3)
        torch.testing.assert_close(out, x[:, :3] * 2 + residual)
    assert len(seen) <= 65 and max(seen) == dense_kernels.ROW_BLOCK


@pytest.mark.parametrize("rows", [1, 65, 1023, 1025, 2500])
def test_blocked_and_padded_calls_match_f_linear(rows):
    layer = _layer()
    x = torch.randn(rows, 48)
    with torch.no_grad():
        got = linear(layer, x, activation="gelu")
    torch.testing.assert_close(got, F.gelu(F.linear(x, layer.weight, layer.bias)), atol=1e-5, rtol=1e-5)
    tracked = x.clone().requires_grad_()
    linear(layer, tracked).sum().backward()
    torch.testing.assert_close(tracked.grad, layer.weight.sum(0).expand(rows, -1), atol=1e-4, rtol=1e-5)
