"""The inference engine: a faster way to run a BERT/MPNet encoder that gives what its reference modules give.

:class:`InferenceEngine` is built from an encoder and runs its forward in inference (every module in eval mode, no
gradient wanted). It computes the reference layer (:mod:`embedkit.encoders.layers`) with these changes, none of
which changes the result beyond float rounding:

- **GEMMs by instruction set** (:mod:`.onednn`): on CPUs with AVX-512 each Linear runs as one fused oneDNN op
  (bias, GELU or residual included); on AVX2-only CPUs, where MKL is faster, as ``F.linear``.
- **Packing** (:mod:`.packing`): the token-wise work (projections, feed-forward, LayerNorm) runs on the real tokens
  of a padded batch only, sequences ordered by length; attention runs on each group of equal-length sequences as
  it is (:mod:`.attention`), or on CUDA within each sequence (:mod:`.varlen`); a mask other than padding on the
  right is laid out padded again.
- **Bounded intermediates**: the feed-forward runs on blocks of rows, so its (rows, F) activation stays small for
  big batches.
- **Chunks of texts** (:mod:`.text_chunks`): on a CPU with several torch threads, a batch of several hundred
  tokens is cut into chunks of texts that worker threads (one torch thread each) take in turn, so that a core
  slowed by another process does not hold every op back; a call too small to cut runs on one torch thread (slower
  on an idle machine, much faster beside other processes: numbers in that module). This scheduling applies to every
  encoder, also those whose layers the engine does not compute itself (ModernBERT, Qwen3, Gemma 3): their own
  forward then runs on the chunks.

The engine reads the encoder's modules, weights and attributes on every call and keeps nothing between calls: there
is no copy to go stale and no memory beyond the call. Whatever it cannot compute exactly (training mode, gradients,
hooks, a replaced layer or sublayer of another type) runs the reference modules instead; a Linear of another type
(an int8 layer, say) is called as a module.

The one thing that prepares weights is explicit: :func:`optimize_for_inference` replaces each encoder layer by a
:class:`~.frozen.FrozenEncoderLayer` whose weights oneDNN has reordered, which makes single queries faster and the
model inference-only (see that module).

Options are constructor arguments. Their defaults come from the environment, read once when this module is
imported: ``EMBEDKIT_ONEDNN=0`` (no oneDNN GEMMs) or ``=1`` (oneDNN GEMMs also without AVX-512),
``EMBEDKIT_PACK_TOKENS=0`` (no packing), ``EMBEDKIT_VARLEN=0`` (no CUDA variable-length attention),
``EMBEDKIT_TEXT_CHUNKS=0`` (each op on all threads instead of chunks of texts), ``EMBEDKIT_OPENMP_SMALL_CALLS=1``
(calls too small to cut on all torch threads instead of one).

Example:
    >>> import torch
    >>> from embedkit.encoders import BertModel, EncoderConfig
    >>> enc = BertModel(EncoderConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
    ...                               intermediate_size=32)).eval()
    >>> ids, mask = torch.tensor([[2, 7, 9, 3], [2, 5, 3, 0]]), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    >>> with torch.inference_mode():
    ...     fast = InferenceEngine(enc)(ids, mask).last_hidden_state
    ...     reference = enc(ids, mask).last_hidden_state
    >>> bool((fast - reference)[mask.bool()].abs().max() < 1e-5)
    True
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from embedkit.encoders.albert import AlbertModel
from embedkit.encoders.bert import BertModel
from embedkit.encoders.distilbert import DistilBertModel
from embedkit.encoders.electra import ElectraModel
from embedkit.encoders.engine.attention import attention, layer_norm
from embedkit.encoders.engine.frozen import FrozenEncoderLayer
from embedkit.encoders.engine.onednn import (
    ROW_BLOCK,
    blas_linear,
    fused_linear,
    onednn_applies,
    onednn_available,
    onednn_preferred,
    row_count,
    row_counts,
    warn_if_emulated_half_precision,
)
from embedkit.encoders.engine.packing import Packing
from embedkit.encoders.engine.text_chunks import OPENMP, one_torch_thread, plan_chunks, run_in_chunks
from embedkit.encoders.layers import (
    ACTIVATION_FUNCTIONS,
    EncoderLayer,
    EncoderOutput,
    FeedForward,
    SelfAttention,
)
from embedkit.encoders.mpnet import MPNetModel
from embedkit.encoders.roberta import RobertaModel

logger = logging.getLogger(__name__)

# Encoders whose layers are all EncoderLayer and that expose ``embeddings`` / ``attention_mask`` as BERT does
# (``layers``: the layers in the order they run; ALBERT's repeat its shared ones).
ENGINE_ENCODERS = (BertModel, MPNetModel, RobertaModel, DistilBertModel, ElectraModel, AlbertModel)
# The feed-forward runs on blocks of token rows so that its (rows, F) intermediate stays under this many elements
# (16 MiB in fp32) instead of growing with the batch; rows are independent, so the result is the same.
FFN_BLOCK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class EngineOptions:
    """The engine's switches (see the module docstring); ``onednn=None`` follows the CPU (:func:`onednn_preferred`)."""

    onednn: bool | None = None
    pack_tokens: bool = True
    varlen_attention: bool = True
    text_chunks: bool = True
    openmp_small_calls: bool = False

    def gemms_on_onednn(self) -> bool:
        """Whether an engine with these options sends its GEMMs to oneDNN (``onednn``, else :func:`onednn_preferred`).

        Example:
            >>> EngineOptions(onednn=False).gemms_on_onednn()
            False
        """
        return onednn_preferred() if self.onednn is None else self.onednn

    @staticmethod
    def from_environment() -> EngineOptions:
        def on(name: str) -> bool:
            return os.environ.get(name, "1") != "0"

        onednn = os.environ.get("EMBEDKIT_ONEDNN")
        return EngineOptions(None if onednn is None else onednn != "0", on("EMBEDKIT_PACK_TOKENS"),
                             on("EMBEDKIT_VARLEN"), on("EMBEDKIT_TEXT_CHUNKS"),
                             os.environ.get("EMBEDKIT_OPENMP_SMALL_CALLS", "0") == "1")


DEFAULT_OPTIONS = EngineOptions.from_environment()  # the one place the environment is read


class InferenceEngine:
    """Runs ``encoder``'s forward for inference through fused, padding-free kernels (see the module docstring).

    Args:
        encoder: one of :data:`ENGINE_ENCODERS` (BERT, MPNet, RoBERTa / XLM-R / CamemBERT, DistilBERT, ELECTRA,
            ALBERT); any other module runs its own forward.
        onednn: fused oneDNN GEMMs on x86 CPUs (default: on CPUs with AVX-512, see :func:`onednn_preferred`;
            ``EMBEDKIT_ONEDNN=0`` / ``=1`` turn them off / on everywhere).
        pack_tokens: run token-wise layers on real tokens only (default: on unless ``EMBEDKIT_PACK_TOKENS=0``).
        varlen_attention: on CUDA, attend within packed sequences (default: on unless ``EMBEDKIT_VARLEN=0``).
        text_chunks: on CPU, run big batches as chunks of texts on worker threads and calls too small to cut on
            one torch thread (default: on unless ``EMBEDKIT_TEXT_CHUNKS=0``).
        openmp_small_calls: with ``text_chunks``, run calls too small to cut on all torch threads instead of one
            (faster on an idle machine, slower beside busy ones; default: off unless
            ``EMBEDKIT_OPENMP_SMALL_CALLS=1``).

    Example:
        >>> import torch
        >>> from embedkit.encoders import EncoderConfig, MPNetModel
        >>> enc = MPNetModel(EncoderConfig(model_type="mpnet", vocab_size=50, hidden_size=16, num_hidden_layers=1,
        ...                                num_attention_heads=2, intermediate_size=32)).eval()
        >>> with torch.no_grad():
        ...     out = InferenceEngine(enc, onednn=False)(torch.tensor([[0, 5, 2]]), torch.tensor([[1, 1, 1]]))
        >>> tuple(out.last_hidden_state.shape)
        (1, 3, 16)
    """

    def __init__(self, encoder: nn.Module, *, onednn: bool | None = None, pack_tokens: bool | None = None,
                 varlen_attention: bool | None = None, text_chunks: bool | None = None,
                 openmp_small_calls: bool | None = None) -> None:
        self.encoder = encoder
        self.onednn = DEFAULT_OPTIONS.gemms_on_onednn() if onednn is None else onednn
        self.pack_tokens = DEFAULT_OPTIONS.pack_tokens if pack_tokens is None else pack_tokens
        self.varlen_attention = DEFAULT_OPTIONS.varlen_attention if varlen_attention is None else varlen_attention
        self.text_chunks = DEFAULT_OPTIONS.text_chunks if text_chunks is None else text_chunks
        self.openmp_small_calls = (DEFAULT_OPTIONS.openmp_small_calls if openmp_small_calls is None
                                   else openmp_small_calls)

    def is_inference_call(self) -> bool:
        """Whether this call is pure inference: no gradient wanted, not compiling, every module in eval mode and no
        hooks anywhere. Only then is the forward scheduled (chunks of texts, one thread) or computed by the engine."""
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            return False
        hooks = nn.modules.module
        if hooks._global_forward_hooks or hooks._global_forward_pre_hooks:
            return False
        return not any(m.training or m._forward_hooks or m._forward_pre_hooks for m in self.encoder.modules())

    def applies(self) -> bool:
        """Whether this call can run the engine's own layer code: an encoder type it knows, an inference call
        (:meth:`is_inference_call`), and every layer the stock :class:`EncoderLayer` (or a frozen one)."""
        return self._engine_layers() and self.is_inference_call()

    def _engine_layers(self) -> bool:
        """Whether the engine's layer code computes this encoder: a type it knows, every layer a stock one."""
        encoder = self.encoder
        if type(encoder) not in ENGINE_ENCODERS:
            return False
        return all(type(layer) is FrozenEncoderLayer or _stock_layer(layer) for layer in encoder.layers)

    def warm_up(self, max_tokens_per_text: int = 256) -> int:
        """Run one layer of each kind (stock, frozen) at every row count the oneDNN GEMMs can run at
        (:func:`~.onednn.row_counts`), on the threads the engine's calls use, so that oneDNN builds each kernel now
        rather than at the first call of that size (every layer has the same GEMM shapes); returns how many row
        counts ran (0 where this encoder's layers make no oneDNN call, or it is in training mode or has hooks).

        The kernels stay in oneDNN's primitive cache for the life of the process, about 2.5 MB per row count for
        a 4-GEMM layer (~150 MB for all 64 counts, whatever the model's size). Without a warm-up a long-running
        server takes that memory bit by bit, for minutes, as batches of rarer sizes arrive; after one its memory
        stays flat. Each text of the warm-up batches has at most ``max_tokens_per_text`` tokens (of token id 0; fewer
        where the model has fewer positions).

        Example:
            >>> from embedkit.encoders import BertModel, EncoderConfig
            >>> enc = BertModel(EncoderConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
            ...                               num_attention_heads=2, intermediate_size=32)).eval()
            >>> InferenceEngine(enc).warm_up() in (0, 64)  # 0 where oneDNN is not used (no AVX-512, not x86)
            True
        """
        encoder = self.encoder
        if not self._engine_layers():
            return 0
        kinds: dict[type, nn.Module] = {}  # the first layer of each kind
        for layer in encoder.layers:
            kinds.setdefault(type(layer), layer)
        weight = next(encoder.parameters(), None)
        if (weight is None or not weight.is_cpu or not onednn_available()
                or not (self.onednn or FrozenEncoderLayer in kinds)):
            return 0
        with torch.inference_mode():
            if not self.is_inference_call():
                return 0
            counts = row_counts()
            cfg = encoder.config  # fairseq-style positions (RoBERTa, MPNet) start after the padding row
            per_text = max(1, min(max_tokens_per_text,
                                  cfg.max_position_embeddings - (getattr(cfg, "pad_token_id", None) or 0) - 1))
            # as __call__ runs CPU calls with text chunks: on one torch thread (each chunk worker or a small call)
            threads = one_torch_thread() if self.text_chunks and OPENMP else contextlib.nullcontext()
            with threads:
                for rows in counts:
                    texts = -(-rows // per_text)
                    length = -(-rows // texts)
                    mask = (torch.arange(texts * length) < rows).view(texts, length).long()  # (texts, length)
                    self._forward(torch.zeros_like(mask), mask, None, False, list(kinds.values()))
        return len(counts)

    def __call__(self, input_ids: Tensor, attention_mask: Tensor | None = None, token_type_ids: Tensor | None = None,
                 output_hidden_states: bool = False) -> EncoderOutput:
        """The encoder's output for (B, T) ``input_ids``; padding positions of the outputs may hold zeros or other
        values than the reference forward's (every pooling masks them out)."""
        if not self.is_inference_call():
            return self.encoder(input_ids, attention_mask, token_type_ids, output_hidden_states)
        forward = self._forward if self._engine_layers() else self._reference  # the latter scheduled below
        workers = torch.get_num_threads()
        if self.text_chunks and not output_hidden_states and input_ids.is_cpu and OPENMP and workers > 1:
            mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
            chunks = plan_chunks(mask.sum(dim=1).tolist(), workers)
            if len(chunks) > 1:
                def last(ids: Tensor, chunk_mask: Tensor, types: Tensor | None) -> Tensor:
                    return forward(ids, chunk_mask, types, False).last_hidden_state

                return EncoderOutput(run_in_chunks(last, input_ids, mask, token_type_ids, chunks, workers), None)
            if not self.openmp_small_calls:
                with one_torch_thread():
                    return forward(input_ids, attention_mask, token_type_ids, False)
        return forward(input_ids, attention_mask, token_type_ids, output_hidden_states)

    def _reference(self, input_ids: Tensor, attention_mask: Tensor | None, token_type_ids: Tensor | None,
                   output_hidden_states: bool) -> EncoderOutput:
        return self.encoder(input_ids, attention_mask, token_type_ids, output_hidden_states)

    def _forward(self, input_ids: Tensor, attention_mask: Tensor | None, token_type_ids: Tensor | None,
                 output_hidden_states: bool, layers: Sequence[nn.Module] | None = None) -> EncoderOutput:
        """The forward through the engine's layer code; ``layers``: these instead of all the encoder's layers."""
        encoder = self.encoder
        x = encoder.embed_inputs(input_ids, token_type_ids)  # (B, T, D)
        warn_if_emulated_half_precision(x)
        attn_mask = encoder.attention_mask(input_ids, attention_mask, x.dtype)
        layers = encoder.layers if layers is None else layers
        packing = None
        if self.pack_tokens and attention_mask is not None and not bool(attention_mask.all()):
            # where every GEMM runs on oneDNN, packed rows come padded to its row count (copied once, here)
            packing = Packing(attention_mask, row_count if self._all_gemms_on_onednn(layers, x) else None)
            x = packing.unpad(x)  # (rows, D): the N real tokens (then zero rows up to the GEMMs' count)

        def full(h: Tensor) -> Tensor:  # back to (B, T, D)
            return h if packing is None else packing.pad(h).view(packing.batch, packing.tokens, -1)

        hidden_states = [full(x)] if output_hidden_states else None
        for layer in layers:
            if type(layer) is FrozenEncoderLayer:
                x = layer.run(x, attn_mask, packing, self.varlen_attention)
            else:
                x = self._layer(layer, x, attn_mask, packing)
            if hidden_states is not None:
                hidden_states.append(full(x))
        last = hidden_states[-1] if hidden_states is not None else full(x)
        return EncoderOutput(last, tuple(hidden_states) if hidden_states is not None else None)

    def _all_gemms_on_onednn(self, layers: Sequence[nn.Module], x: Tensor) -> bool:
        """Whether the engine sends every projection of ``layers`` to oneDNN for ``x``: a frozen layer's always go
        there, a stock layer's where they are plain Linears (one of another type, int8 say, runs as a module on
        exactly the rows it gets). One weight is checked against ``x`` for all (an encoder's weights share dtype and
        layout; were one to differ, the cost would only be padded rows): this runs on every call."""
        if not (self.onednn and x.is_cpu):
            return False
        stock = [layer for layer in layers if type(layer) is not FrozenEncoderLayer]
        projections = [proj for layer in stock for proj in _projections(layer)]
        return all(type(proj) is nn.Linear for proj in projections) and (
            not projections or onednn_applies(x, projections[0].weight))

    def _layer(self, layer: EncoderLayer, x: Tensor, attn_mask: Tensor | None, packing: Packing | None) -> Tensor:
        """``EncoderLayer.forward`` in eval mode (dropout is the identity), on (B, T, D) or packed (N, D) rows."""
        attn, ffn = layer.attn, layer.ffn
        q, k, v = (self._linear(proj, x) for proj in (attn.q, attn.k, attn.v))
        y = attention(q, k, v, attn.n_heads, attn_mask, packing, self.varlen_attention)  # same layout as x
        x = layer_norm(self._linear(attn.o, y, residual=x), layer.attn_norm)
        return layer_norm(self._feed_forward(ffn, x), layer.ffn_norm)

    def _feed_forward(self, ffn: FeedForward, x: Tensor) -> Tensor:
        """``x + down(act(up(x)))``, on blocks of rows (see ``FFN_BLOCK_ELEMENTS``)."""
        rows = x.shape[:-1].numel()
        block = max(1, FFN_BLOCK_ELEMENTS // ffn.up.out_features)
        if block >= ROW_BLOCK:  # whole oneDNN row blocks: rows split as in one full call (bitwise equal)
            block -= block % ROW_BLOCK
        if rows <= block:
            return self._linear(ffn.down, self._linear(ffn.up, x, activation=ffn.act), residual=x)
        flat = x.reshape(rows, x.shape[-1])  # (N, D)
        out = torch.empty_like(flat)
        for start in range(0, rows, block):
            part = flat[start:start + block]
            hidden = self._linear(ffn.up, part, activation=ffn.act)  # (rows, F)
            out[start:start + block] = self._linear(ffn.down, hidden, residual=part)
        return out.view(x.shape)

    def _linear(self, module: nn.Module, x: Tensor, activation: str | None = None,
                residual: Tensor | None = None) -> Tensor:
        """``act(module(x))`` or ``module(x) + residual``: one fused oneDNN op for a plain ``nn.Linear`` when the
        engine uses oneDNN, else ``F.linear`` and element-wise ops."""
        if type(module) is nn.Linear:
            if self.onednn and onednn_applies(x, module.weight):
                return fused_linear(x, module.weight, module.bias, activation, residual)
            return blas_linear(x, module.weight, module.bias, activation, residual)
        y = module(x)
        if residual is not None:
            return y + residual
        return y if activation is None else ACTIVATION_FUNCTIONS[activation](y)


def _projections(layer: EncoderLayer) -> tuple[nn.Module, ...]:
    """A stock layer's six projections (q, k, v, o, up, down). Read from the ``_modules`` dicts: this runs on every
    call, and nn.Module's attribute lookup took 55 us for all-MiniLM-L6-v2's 36 projections (this: 2.5 us)."""
    attn, ffn = layer._modules["attn"]._modules, layer._modules["ffn"]._modules
    return attn["q"], attn["k"], attn["v"], attn["o"], ffn["up"], ffn["down"]


def _stock_layer(layer: nn.Module) -> bool:
    return (
        type(layer) is EncoderLayer
        and type(layer.attn) is SelfAttention
        and type(layer.ffn) is FeedForward
        and type(layer.attn_norm) is nn.LayerNorm
        and type(layer.ffn_norm) is nn.LayerNorm
    )


def _engine_encoders(model: nn.Module) -> list[nn.Module]:
    """The encoders inside ``model`` (or ``model`` itself) that the engine computes."""
    return [m for m in model.modules() if type(m) in ENGINE_ENCODERS]


def warm_up(model: nn.Module) -> int:
    """:meth:`InferenceEngine.warm_up` for every encoder inside ``model`` (with the default engine options); returns
    how many row counts ran, over all of them.

    Example:
        >>> from embedkit.encoders import BertModel, EncoderConfig
        >>> enc = BertModel(EncoderConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
        ...                               num_attention_heads=2, intermediate_size=32)).eval()
        >>> warm_up(enc) in (0, 64)  # 0 where oneDNN is not used (no AVX-512, not x86)
        True
    """
    return sum(InferenceEngine(encoder).warm_up() for encoder in _engine_encoders(model))


def optimize_for_inference(model: nn.Module) -> int:
    """Replace every stock encoder layer inside ``model`` by a :class:`FrozenEncoderLayer` (weights reordered for
    oneDNN, in place of the originals: memory does not grow); returns how many layers were replaced (ALBERT's
    shared layers count once).

    Layers are left as they are (and the reason logged once) where oneDNN is unavailable, or a layer is not on the
    CPU, not float32, has a Linear of another type (int8) or without bias, or has hooks.

    Example:
        >>> from embedkit.encoders import BertModel, EncoderConfig
        >>> enc = BertModel(EncoderConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        ...                               intermediate_size=32)).eval()
        >>> optimize_for_inference(enc) in (0, 2)  # 0 where oneDNN is unavailable (non-x86 CPUs)
        True
    """
    if not onednn_available():
        logger.info("optimize_for_inference: oneDNN is unavailable here; the model keeps the default path")
        return 0
    replaced, skipped = 0, []
    for encoder in _engine_encoders(model):
        for layers in encoder.layer_lists():  # each layer once: ALBERT's shared ones stay shared
            for i, layer in enumerate(layers):
                reason = FrozenEncoderLayer.unsupported(layer)
                if reason is None:
                    layers[i] = FrozenEncoderLayer(layer)
                    replaced += 1
                elif type(layer) is not FrozenEncoderLayer:
                    skipped.append(reason)
    if skipped:
        logger.info(f"optimize_for_inference: {len(skipped)} layer(s) kept on the default path ({skipped[0]})")
    return replaced


__all__ = ["DEFAULT_OPTIONS", "EngineOptions", "FrozenEncoderLayer", "InferenceEngine", "optimize_for_inference",
           "warm_up"]
