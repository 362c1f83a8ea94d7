"""Opt-in int8 inference on CPU: ``model.quantize("int8")``.

Every Linear layer inside the encoder's layers (BERT's q, k, v, o, FFN up and down; the fused and gated projections of
the other families) becomes an int8 layer with per-output-channel weight scales and per-call (dynamic) activation
scales; embeddings and heads stay in fp32. BERT activations have a few channels with large outliers,
which one activation scale per call handles badly, so the outliers are first moved into the weights
(SmoothQuant, Xiao et al. 2023): for input channel j, ``s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)``, measured on
calibration texts, and the layer computes ``int8(W * s) @ int8(X / s)``.

The int8 kernel is torch's dynamic quantized Linear when this torch still has it (``torch.ao.quantization``); otherwise
a fallback keeps int8 weights and dequantizes them per call (same results, no speed-up). Inference only: a quantized
model cannot be trained or saved (save the fp32 model instead).
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import torch
from torch import Tensor, nn

# Varied short texts used when no calibration texts are given; calibrating on the user's own data is better.
DEFAULT_CALIBRATION_TEXTS = [
    "How do plants turn sunlight into energy?",
    "The central bank raised interest rates by a quarter point on Tuesday.",
    "A man is playing a guitar on a busy street corner.",
    "Symptoms of the flu include fever, cough and tiredness.",
    "Install the package, then run the command line tool with --help.",
    "The match ended in a draw after extra time.",
    "Quantum computers use qubits that can be in superposition.",
    "She ordered a coffee and a slice of lemon cake.",
    "What is the capital city of Australia?",
    "Mitochondria produce most of the chemical energy of a cell.",
    "The recipe needs two eggs, flour, sugar and butter.",
    "Stock markets fell sharply after the earnings report.",
    "A small dog is running through the tall grass.",
    "def add(a, b): return a + b",
    "The treaty was signed in 1648 and ended the war.",
    "Rain is expected across the north later this week.",
    "The patient was given antibiotics for ten days.",
    "Transformers use self-attention to mix information across tokens.",
    "Where can I find cheap flights to Lisbon in March?",
    "The orchestra performed Beethoven's ninth symphony.",
    "Researchers found no link between the vaccine and the disorder.",
    "Two children are building a sandcastle at the beach.",
    "The company reported a loss of 3.2 million dollars.",
    "Please reset your password using the link we sent.",
    "In a randomized controlled trial of 412 adults, the treatment group showed a 23% lower rate of hospitalization.",
    "Gene expression profiling revealed that the transcription factor regulates differentiation of stem cells.",
    "The tenant shall pay the rent on the first business day of each month, as set out in section 4(b).",
    "Elevated levels of C-reactive protein (CRP) were associated with cardiovascular events (p < 0.01).",
    "To reproduce the error, run `make test` with PYTHONPATH=src and look at the stack trace in build/log.txt.",
    "Der Zug nach Berlin fährt um 14:05 Uhr von Gleis 7 ab; la gare est fermée le dimanche.",
    "Mice lacking the receptor developed insulin resistance, whereas wild-type littermates did not.",
    "Our model improves F1 by 2.3 points over the strongest baseline on three of the four benchmarks.",
]


def _default_calibration() -> list[str]:
    """The built-in sentences, plus paragraphs made of them: long inputs reach larger activations than short ones."""
    texts = DEFAULT_CALIBRATION_TEXTS
    paragraphs = [" ".join(texts[i : i + 6]) for i in range(0, len(texts), 6)]
    return texts + paragraphs + [" ".join(texts * 2)]


def _int8_kernel_available() -> bool:
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic  # noqa: F401
    except ImportError:
        return False
    return bool({"qnnpack", "fbgemm", "x86", "onednn"} & set(torch.backends.quantized.supported_engines))


class Int8WeightLinear(nn.Module):
    """Fallback: int8 weights with per-output-channel scales, dequantized for each call."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach()
        scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0  # (out,)
        self.register_buffer("weight_int8", torch.round(weight / scale[:, None]).to(torch.int8))
        self.register_buffer("scale", scale)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight_int8.to(x.dtype) * self.scale[:, None].to(x.dtype)  # (out, in)
        return nn.functional.linear(x, weight, self.bias)


class SmoothedInt8Linear(nn.Module):
    """``int8(W * s) @ (x / s)``: a Linear whose activation outliers were moved into the weights, then quantized."""

    def __init__(self, linear: nn.Linear, input_absmax: Tensor, alpha: float, use_torch_kernel: bool) -> None:
        super().__init__()
        weight_absmax = linear.weight.detach().abs().amax(dim=0).clamp(min=1e-5)  # (in,)
        smooth = input_absmax.clamp(min=1e-5) ** alpha / weight_absmax ** (1 - alpha)  # (in,)
        self.register_buffer("inv_smooth", 1.0 / smooth)
        scaled = nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None)
        with torch.no_grad():
            scaled.weight.copy_(linear.weight * smooth)
            if linear.bias is not None:
                scaled.bias.copy_(linear.bias)
        if use_torch_kernel:
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the eager API announces its deprecation
                self.inner = quantize_dynamic(nn.Sequential(scaled), {nn.Linear: per_channel_dynamic_qconfig},
                                              dtype=torch.qint8)[0]
        else:
            self.inner = Int8WeightLinear(scaled)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: Tensor) -> Tensor:
        return self.inner(x * self.inv_smooth)


def _encoder_classes() -> tuple[type[nn.Module], ...]:
    """The registered encoder classes whose module is imported (a family never imported has no instance)."""
    from embedkit.encoders import ENCODERS

    found = []
    for module_name, class_name in sorted(set(ENCODERS.values())):
        module = sys.modules.get(f"embedkit.encoders.{module_name}")
        if module is not None:
            found.append(getattr(module, class_name))
    return tuple(found)


def _encoder_linears(model: nn.Module) -> list[tuple[nn.Module, str, nn.Linear]]:
    """(parent, attribute, Linear) for every plain Linear inside the layers of every encoder in ``model``, whatever
    the family (BERT's q / k / v / o / up / down, a fused ``Wqkv``, gated ``gate_proj`` / ``up_proj``, T5's ``wi`` /
    ``wo``...). Embeddings, poolers, classification and masked-LM heads stay in fp32."""
    classes = _encoder_classes()
    found = []
    for encoder in (m for m in model.modules() if isinstance(m, classes)):
        for layer in dict.fromkeys(encoder.layers):  # each layer once (ALBERT runs a shared layer at several depths)
            for parent in layer.modules():
                for name, child in parent.named_children():
                    if type(child) is nn.Linear:
                        found.append((parent, name, child))
    return found


def quantize_int8(model: Any, calibration_texts: list[str] | None = None, alpha: float = 0.7,
                  batch_size: int = 32, keep_fp32: tuple[str, ...] = ()) -> Any:
    """Turn ``model``'s encoder projections into SmoothQuant int8 layers, in place; returns ``model``.

    Args:
        model: a SentenceTransformer (or SparseEncoder / CrossEncoder sharing its encoder layers) on the CPU.
        calibration_texts: texts whose activations set the smoothing (default: a small built-in set; texts from
            your own corpus are better).
        alpha: migration strength (0: none, 1: all of the activation range moved into the weights).
        keep_fp32: projections left in fp32, by attribute name within a layer (BERT's ``"q"``, ``"k"``, ``"v"``,
            ``"o"``, ``"up"``, ``"down"``; another family's own names, e.g. ``"Wqkv"``, ``"down_proj"``).

    Raises:
        ValueError: the model is not on the CPU, is already quantized, or has no encoder layers.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = quantize_int8(SentenceTransformer(default_model_path(), device="cpu"))
        >>> model.encode(["hello world"]).shape
        (1, 384)
    """
    if getattr(model, "quantized", None):
        raise ValueError(f"the model is already quantized ({model.quantized})")
    if model.device.type != "cpu":
        raise ValueError(f"int8 quantization runs on the CPU; the model is on {model.device}")
    if getattr(model, "optimized_for_inference", False):
        raise ValueError("the model was optimized for inference (its layers hold prepared weights); quantize a model "
                         "loaded afresh instead")
    linears = _encoder_linears(model)
    if not linears:
        raise ValueError("no encoder layers to quantize in this model (static embeddings have none)")
    maxima: dict[int, Tensor] = {}

    def record(module: nn.Module, args: tuple[Tensor, ...]) -> None:
        x = args[0].detach().abs().reshape(-1, args[0].shape[-1]).amax(dim=0)  # (in,)
        maxima[id(module)] = torch.maximum(maxima[id(module)], x) if id(module) in maxima else x

    unique = {id(linear): linear for _, _, linear in linears}  # a Linear shared by two parents is hooked once
    hooks = [linear.register_forward_pre_hook(record) for linear in unique.values()]
    try:
        texts = list(calibration_texts or _default_calibration())
        if hasattr(model, "predict"):  # a CrossEncoder calibrates on (text, text) pairs
            model.predict([(t, texts[(i + 1) % len(texts)]) for i, t in enumerate(texts)], batch_size=batch_size)
        else:
            model.encode(texts, batch_size=batch_size)
    finally:
        for hook in hooks:
            hook.remove()
    use_torch_kernel = _int8_kernel_available()
    quantized: dict[int, SmoothedInt8Linear] = {}
    for parent, name, linear in linears:
        if id(linear) not in maxima or name in keep_fp32:
            continue  # a layer the calibration never reached (e.g. another Router route) stays fp32
        if id(linear) not in quantized:
            quantized[id(linear)] = SmoothedInt8Linear(linear, maxima[id(linear)], alpha, use_torch_kernel)
        setattr(parent, name, quantized[id(linear)])
    model.quantized = "int8" if use_torch_kernel else "int8-weights (fallback kernel)"
    model.requires_grad_(False)
    model.eval()  # the new layers too, so that the inference engine runs them
    return model
