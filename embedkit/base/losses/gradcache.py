"""GradCache (Gao et al., 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup").

A cached loss computes the same value and gradients as its plain twin while only ever holding one mini-batch's
activations:

1. **Embed without gradients.** Each input column is cut into mini-batches (``mini_batch_size`` rows, or packed by
   ``mini_batch_num_tokens``). For each, the RNG state is recorded (:class:`RandContext`: CPU and the CUDA devices
   of its tensors) and the model runs under ``torch.no_grad()``.
2. **Loss and its gradient on the cached embeddings.** The full-batch loss is computed from the concatenated
   embeddings and backpropagated to them only; ``d loss / d embedding`` is kept per mini-batch.
3. **Replay with gradients, from a backward hook.** The returned loss is a leaf with a hook, so any training loop
   just calls ``loss.backward()``. The hook receives ``grad_output`` (which carries the fp16 loss scale and the
   gradient-accumulation division), re-embeds every mini-batch with gradients inside its recorded RNG state (so
   dropout masks are identical to step 1), and backpropagates the surrogate ``<embedding, cached_grad> *
   grad_output``, accumulating exactly ``d loss / d params`` into ``.grad``.

Under DDP the replay runs several backward passes per optimizer step, which DDP's reducer does not allow, so the
trainer does not wrap cached losses in DDP; it all-reduces the accumulated gradients once per optimizer step itself.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import get_device_states, set_device_states


class RandContext(AbstractContextManager):
    """Records the RNG state now; ``with ctx:`` runs its body from exactly that state, then restores the old one.

    Example:
        >>> ctx = RandContext(torch.zeros(1))
        >>> a = torch.rand(3)
        >>> with ctx:
        ...     b = torch.rand(3)
        >>> torch.equal(a, b)
        True
    """

    def __init__(self, *tensors: Tensor) -> None:
        self.cpu_state = torch.get_rng_state()
        self.devices, self.device_states = get_device_states(*tensors)
        self._fork: Any = None

    def __enter__(self) -> RandContext:
        self._fork = torch.random.fork_rng(devices=self.devices, enabled=True)
        self._fork.__enter__()
        torch.set_rng_state(self.cpu_state)
        set_device_states(self.devices, self.device_states)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._fork.__exit__(*exc)
        self._fork = None


def minibatch_ranges(features: dict[str, Any], mini_batch_size: int, mini_batch_num_tokens: int | None = None
                     ) -> list[tuple[int, int]]:
    """Row ranges [begin, end) of one column: fixed-size, or greedily packed up to ``mini_batch_num_tokens`` real
    tokens (a single longer row gets a range of its own)."""
    n = _num_rows(features)
    if mini_batch_num_tokens is None:
        return [(b, min(b + mini_batch_size, n)) for b in range(0, n, mini_batch_size)]
    lengths = features["attention_mask"].sum(dim=1).cumsum(0).tolist()
    ranges, begin = [], 0
    while begin < n:
        offset = lengths[begin - 1] if begin else 0
        end = max(begin + 1, bisect.bisect_right(lengths, offset + mini_batch_num_tokens))
        ranges.append((begin, min(end, n)))
        begin = end
    return ranges


def _num_rows(features: dict[str, Any]) -> int:
    if "offsets" in features:  # StaticEmbedding: flat token ids, one offset per text
        return features["offsets"].shape[0]
    if "input_ids" in features:
        return features["input_ids"].shape[0]
    return next(v.shape[0] for v in features.values() if isinstance(v, Tensor) and v.ndim)


def slice_features(features: dict[str, Any], begin: int, end: int) -> dict[str, Any]:
    """Rows [begin, end) of a features dict, with trailing all-padding columns trimmed."""
    n = _num_rows(features)
    if "offsets" in features:  # flat ids: texts [begin, end) are ids[offsets[begin]:offsets[end]]
        offsets, ids = features["offsets"], features["input_ids"]
        first = int(offsets[begin]) if begin < n else ids.shape[0]
        last = int(offsets[end]) if end < n else ids.shape[0]
        return {**features, "input_ids": ids[first:last], "offsets": offsets[begin:end] - first}
    out = {k: v[begin:end] if isinstance(v, Tensor) and v.ndim and v.shape[0] == n else v for k, v in features.items()}
    mask = out.get("attention_mask")
    if mask is not None and mask.ndim == 2 and mask.numel():
        keep = int(mask.any(dim=0).nonzero().max()) + 1 if bool(mask.any()) else 1
        if keep < mask.shape[1]:
            out = {k: v[:, :keep] if isinstance(v, Tensor) and v.ndim == 2 and v.shape == mask.shape else v
                   for k, v in out.items()}
    return out


@contextmanager
def sparse_embedding_gradients(model: nn.Module) -> Iterator[None]:
    """Within this block, embedding tables that already hold a dense ``.grad`` get sparse per-lookup gradients.

    A dense embedding backward allocates a zero (vocabulary, D) gradient and adds it to ``.grad``: 47 MB each for a
    BERT vocabulary, once per replayed mini-batch. A sparse one carries just the looked-up rows, which autograd adds
    into the existing dense ``.grad``, so ``.grad`` ends up equal (up to float summation order) and stays dense.
    Tables without a ``.grad`` yet keep dense gradients, so a table the replay never reaches keeps ``grad=None``.
    """
    switched = []
    for module in model.modules():
        grad = module.weight.grad if type(module) is nn.Embedding else None
        if grad is not None and not module.sparse and grad.layout == torch.strided and grad.grad_fn is None:
            module.sparse = True
            switched.append(module)
    try:
        yield
    finally:
        for module in switched:
            module.sparse = False


def _replay(grad_output: Tensor, embed: Callable[[dict[str, Any]], Tensor], features: list[dict[str, Any]],
            ranges: list[list[tuple[int, int]]], states: list[list[RandContext]], cache: list[list[Tensor]],
            model: nn.Module) -> None:
    with torch.enable_grad():
        for column, column_ranges, column_states, column_cache in zip(features, ranges, states, cache):
            for (begin, end), state, grad in zip(column_ranges, column_states, column_cache):
                with state, sparse_embedding_gradients(model):  # re-checked per mini-batch: the first makes .grad
                    reps = embed(slice_features(column, begin, end))
                if not reps.requires_grad:  # e.g. a frozen route
                    continue
                dtype = torch.promote_types(reps.dtype, torch.float32)  # fp16/bf16 -> fp32; fp64 stays fp64
                surrogate = torch.dot(reps.flatten().to(dtype), grad.flatten().to(dtype)) * grad_output
                surrogate.backward()


class CachedLossMixin:
    """Turns a loss computed from embeddings into a GradCache loss.

    The host class provides ``self.model``, ``self.mini_batch_size``, ``self.mini_batch_num_tokens`` (or None),
    ``self.show_progress_bar`` and ``calculate_loss(reps: list[Tensor], labels) -> Tensor`` on full-batch
    embeddings (one tensor per column). It may override :meth:`embed` (default: the model's
    ``sentence_embedding``).
    """

    uses_gradient_cache = True

    def embed(self, features: dict[str, Any]) -> Tensor:
        return self.model(features)["sentence_embedding"]

    def forward_cached(self, sentence_features: list[dict[str, Any]], labels: Tensor | None) -> Tensor:
        if any("input_ids" not in f and "offsets" in f for f in sentence_features):
            raise ValueError("cached losses need padded token inputs; StaticEmbedding (EmbeddingBag) is not supported")
        grad = torch.is_grad_enabled()
        ranges = [minibatch_ranges(f, self.mini_batch_size, getattr(self, "mini_batch_num_tokens", None))
                  for f in sentence_features]
        reps, states = [], []
        for features, column_ranges in zip(sentence_features, ranges):
            column_reps, column_states = [], []
            if getattr(self, "show_progress_bar", False):
                from tqdm.auto import tqdm

                column_ranges = tqdm(column_ranges, desc="Embed mini-batches", leave=False)
            for begin, end in column_ranges:
                mini = slice_features(features, begin, end)
                if grad:
                    column_states.append(RandContext(*[v for v in mini.values() if isinstance(v, Tensor)]))
                with torch.no_grad():
                    column_reps.append(self.embed(mini).detach())
            reps.append(column_reps)
            states.append(column_states)
        if not grad:  # evaluation: the plain loss on the embeddings
            return self.calculate_loss([torch.cat(r) for r in reps], labels)

        leaves = [[r.requires_grad_() for r in column] for column in reps]
        loss = self.calculate_loss([torch.cat(column) for column in leaves], labels)
        loss.backward()
        cache = []
        for c, column in enumerate(leaves):
            if any(r.grad is None for r in column):
                raise ValueError(f"the loss does not depend on input column {c}; drop that column from the dataset")
            cache.append([r.grad for r in column])
        loss = loss.detach().requires_grad_()
        loss.register_hook(partial(_replay, embed=self.embed, features=sentence_features, ranges=ranges,
                                   states=states, cache=cache, model=self.model))
        return loss
