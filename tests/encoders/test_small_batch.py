"""The small-call fast path (encoders/small_batch.py) against the module path it replaces."""

import gc
import platform

import pytest
import torch
from torch import nn

from embedkit.encoders import BertModel, EncoderConfig, MPNetModel, dense_kernels, small_batch

pytestmark = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64") or not dense_kernels.onednn_available(),
    reason="the small-call path runs on oneDNN (x86 CPUs)",
)


def _model(kind: str) -> nn.Module:
    torch.manual_seed(0)
    if kind == "bert":
        cfg = EncoderConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=64)
        return BertModel(cfg).eval()
    cfg = EncoderConfig(model_type="mpnet", vocab_size=100, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=64, max_position_embeddings=514,
                        relative_attention_num_buckets=32)
    return MPNetModel(cfg).eval()


def _inputs(batch: str) -> tuple[torch.Tensor, torch.Tensor]:
    if batch == "one":
        ids = torch.tensor([[0, 5, 17, 33, 9, 2]])
        return ids, torch.ones_like(ids)
    ids = torch.tensor([[0, 5, 17, 33, 9, 2], [0, 8, 2, 1, 1, 1], [0, 44, 45, 46, 2, 1]])
    return ids, (ids != 1).long()


def _run(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor, hidden: bool = False):
    with torch.inference_mode():
        out = model(ids, mask, output_hidden_states=hidden)
    return out


def _spy(monkeypatch) -> list[int]:
    calls = []
    real = small_batch.run_layer

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("embedkit.encoders.stack.run_layer", counting)
    return calls


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
@pytest.mark.parametrize("batch", ["one", "padded"])
def test_small_path_matches_the_modules(kind, batch, monkeypatch):
    model = _model(kind)
    ids, mask = _inputs(batch)
    calls = _spy(monkeypatch)
    fast = _run(model, ids, mask, hidden=True)
    assert len(calls) == 2  # both layers took the small path
    monkeypatch.setattr(dense_kernels, "_pack", False)  # the module path, on plain-layout weights
    slow = _run(model, ids, mask, hidden=True)
    assert len(calls) == 2
    real = mask.bool()
    torch.testing.assert_close(fast.last_hidden_state[real], slow.last_hidden_state[real], atol=1e-5, rtol=1e-5)
    for a, b in zip(fast.hidden_states, slow.hidden_states, strict=True):
        torch.testing.assert_close(a[real], b[real], atol=1e-5, rtol=1e-5)
    if batch == "padded":  # padding positions are zeros on both paths
        assert fast.last_hidden_state[~real].abs().max() == 0


@pytest.mark.skipif(not dense_kernels.native_cpu_bf16(), reason="bf16 takes the oneDNN path on native-bf16 CPUs")
def test_bf16_model_takes_the_small_path_too(monkeypatch):
    model = _model("bert").bfloat16()
    ids, mask = _inputs("padded")
    calls = _spy(monkeypatch)
    fast = _run(model, ids, mask).last_hidden_state
    assert len(calls) == 2 and fast.dtype == torch.bfloat16
    monkeypatch.setattr(dense_kernels, "_pack", False)
    slow = _run(model, ids, mask).last_hidden_state
    torch.testing.assert_close(fast.float(), slow.float(), atol=5e-2, rtol=2e-2)  # bf16 rounding


class _PlainAttention(nn.Module):
    """Attention with other child names than SelfAttention's (as a user's replacement might have)."""

    def __init__(self, attn) -> None:
        super().__init__()
        self.inner = attn

    def forward(self, x, attn_mask, packing=None, residual=None):
        return self.inner(x, attn_mask, packing, residual)


def _with_hook(model):
    fired = []
    model.layers[1].attn.o.register_forward_hook(lambda *args: fired.append(1))
    return fired


@pytest.mark.filterwarnings("ignore:this CPU has no native")  # the fp16 case on a CPU without fp16 arithmetic
@pytest.mark.parametrize("case", ["training", "hook", "grad", "many_rows", "no_bias", "fp16", "custom_attention",
                                  "transposed_weight"])
def test_module_path_runs_whenever_the_fast_path_could_differ(case, monkeypatch):
    model = _model("bert")
    ids, mask = _inputs("one")
    _run(model, ids, mask)  # a small call makes the copy
    calls = _spy(monkeypatch)
    fired = []
    if case == "training":
        model.train()
    elif case == "hook":
        fired = _with_hook(model)
    elif case == "many_rows":
        ids = torch.randint(3, 100, (1, dense_kernels.PACK_MAX_ROWS + 1))
        mask = torch.ones_like(ids)
    elif case == "no_bias":
        model.layers[0].ffn.up = nn.Linear(32, 64, bias=False)
    elif case == "fp16":  # not a dtype the oneDNN path takes
        model.half()
    elif case == "transposed_weight":  # a weight stored transposed (as tied weights can be): not contiguous
        down = model.layers[0].ffn.down
        down.weight = nn.Parameter(down.weight.detach().t().contiguous().t())
    elif case == "custom_attention":  # a replaced sublayer with another layout: no crash, the modules run
        model.layers[1].attn = _PlainAttention(model.layers[1].attn).eval()
    if case == "grad":
        out = model(ids, mask).last_hidden_state
        assert out.requires_grad
    else:
        _run(model, ids, mask)
    assert calls == []
    if case == "many_rows":  # a big call keeps the copy a small call made
        assert small_batch._copies.get(id(model.layers)) is not None
    else:  # the model changed or trains: no copy is kept
        assert small_batch._copies.get(id(model.layers)) is None
    if case == "hook":
        assert fired == [1]


def _updated(model, update: str) -> None:
    layer = model.layers[1]
    if update == "fused_adamw":  # in place, without bumping the version counter
        params = [p for p in layer.parameters()]
        for p in params:
            p.grad = torch.randn_like(p)
        torch.optim.AdamW(params, lr=0.5, fused=True).step()
    elif update == "data_inplace":
        layer.ffn.down.weight.data.mul_(-1)
    elif update == "qkv_bias_data":
        layer.attn.v.bias.data.add_(1.0)
    elif update == "o_bias_data":  # read live, not copied
        layer.attn.o.bias.data.copy_(torch.randn(32))
    elif update == "replace_bias":
        layer.attn.o.bias = nn.Parameter(torch.randn(32))
    elif update == "swap_sublayer":
        layer.attn.q = nn.Linear(32, 32).eval()
    elif update == "swap_norm":  # no Linear tensor changes: only the module identity tells
        layer.attn_norm = nn.LayerNorm(32).eval()
        nn.init.normal_(layer.attn_norm.weight)
    elif update == "load_state_dict":
        model.load_state_dict({k: torch.randn_like(v) for k, v in model.state_dict().items()})


@pytest.mark.parametrize("update", ["fused_adamw", "data_inplace", "qkv_bias_data", "o_bias_data", "replace_bias",
                                    "swap_sublayer", "swap_norm", "load_state_dict"])
def test_copy_follows_every_kind_of_update(update, monkeypatch):
    model = _model("bert")
    ids, mask = _inputs("padded")
    before = _run(model, ids, mask).last_hidden_state  # makes the copy
    _updated(model, update)
    calls = _spy(monkeypatch)
    fast = _run(model, ids, mask).last_hidden_state
    assert len(calls) == 2
    monkeypatch.setattr(dense_kernels, "_pack", False)
    slow = _run(model, ids, mask).last_hidden_state
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(fast, before, atol=1e-3)  # the update did change the output


def test_a_training_forward_drops_the_copy_and_a_dead_model_frees_it():
    model = _model("bert")
    ids, mask = _inputs("one")
    _run(model, ids, mask)
    key = id(model.layers)
    assert key in small_batch._copies
    model.train()
    model(ids, mask)
    assert key not in small_batch._copies  # not kept through training, where every step makes it stale
    model.eval()
    _run(model, ids, mask)
    assert key in small_batch._copies
    del model
    gc.collect()
    assert key not in small_batch._copies and key not in small_batch._watched
