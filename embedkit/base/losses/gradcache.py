"""GradCache (Gao et al., 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup").

A cached loss computes the same value and gradients as its plain twin while only ever holding one mini-batch's
activations:

1. **Embed without gradients.** Each input column is cut into mini-batches (``mini_batch_size`` rows, or packed by
   ``mini_batch_num_tokens``). For each, the RNG state is recorded (:class:`RandContext`: CPU, CUDA and MPS) and the
   model runs under ``torch.no_grad()``.
2. **Loss and its gradient on the cached embeddings.** The full-batch loss is computed from the mini-batch
   embeddings and backpropagated to them only; ``d loss / d embedding`` is kept per mini-batch.
3. **Replay with gradients, from a backward hook.** The returned loss is a leaf with a hook, so any training loop
   just calls ``loss.backward()``. The hook receives ``grad_output`` (which carries the fp16 loss scale and the
   gradient-accumulation division), re-embeds every mini-batch with gradients inside its recorded RNG state and
   with the boundaries of step 1 (so dropout masks are identical), and backpropagates the surrogate
   ``<embedding, cached_grad> * grad_output``, accumulating exactly ``d loss / d params`` into ``.grad``.

A host loss implements ``calculate_loss(reps, labels=None, *, with_backward=False)`` on ``reps[column][mini_batch]``
embeddings (sentence-transformers' protocol; with ``with_backward`` it backpropagates itself and returns the detached
value). The older embedkit protocol, ``calculate_loss(reps, labels)`` on one full-batch tensor per column, is still
accepted: the mixin concatenates and backpropagates for it.

Under DDP the replay runs several backward passes per optimizer step, which DDP's reducer does not allow, so the
trainer does not wrap cached losses in DDP; it all-reduces the accumulated gradients once per optimizer step itself.
"""

from __future__ import annotations

import bisect
import inspect
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import get_device_states, set_device_states


def _is_mps(value: Any) -> bool:
    return isinstance(value, Tensor) and value.device.type == "mps"


class RandContext(AbstractContextManager):
    """Records the RNG state now; ``with ctx:`` runs its body from exactly that state, then restores the old one.

    The CPU generator, the CUDA generators of the devices holding ``tensors`` and, if any tensor lives on MPS, the
    MPS generator are recorded (``torch.utils.checkpoint.get_device_states`` cannot handle MPS tensors).

    Example:
        >>> ctx = RandContext(torch.zeros(1))
        >>> a = torch.rand(3)
        >>> with ctx:
        ...     b = torch.rand(3)
        >>> torch.equal(a, b)
        True
    """

    def __init__(self, *tensors: Any) -> None:
        self.fwd_cpu_state = torch.get_rng_state()
        self.fwd_mps_state = torch.mps.get_rng_state() if any(_is_mps(t) for t in tensors) else None
        others = tuple(t for t in tensors if isinstance(t, Tensor) and not _is_mps(t))
        self.fwd_gpu_devices, self.fwd_gpu_states = get_device_states(*others)
        self._fork: Any = None
        self._mps_outside: Tensor | None = None

    def __enter__(self) -> RandContext:
        self._fork = torch.random.fork_rng(devices=self.fwd_gpu_devices, enabled=True)
        self._fork.__enter__()
        torch.set_rng_state(self.fwd_cpu_state)
        if self.fwd_mps_state is not None:
            self._mps_outside = torch.mps.get_rng_state()
            torch.mps.set_rng_state(self.fwd_mps_state)
        set_device_states(self.fwd_gpu_devices, self.fwd_gpu_states)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._mps_outside is not None:
            torch.mps.set_rng_state(self._mps_outside)
            self._mps_outside = None
        self._fork.__exit__(*exc)
        self._fork = None


def _get_batch_size(sentence_feature: dict[str, Any]) -> int:
    """Number of samples in a features dict: padded (first axis of ``input_ids``/``attention_mask``), flattened
    (``len(cu_seq_lens_q) - 1``), or StaticEmbedding-style flat ids (one ``offsets`` entry per text).

    Example:
        >>> _get_batch_size({"input_ids": torch.ones(3, 5), "attention_mask": torch.ones(3, 5)})
        3
    """
    if "cu_seq_lens_q" in sentence_feature:
        return len(sentence_feature["cu_seq_lens_q"]) - 1
    offsets, ids = sentence_feature.get("offsets"), sentence_feature.get("input_ids")
    if isinstance(offsets, Tensor) and isinstance(ids, Tensor) and ids.ndim == 1:
        return offsets.shape[0]
    # Known per-sample keys first: flattened image tensors (pixel_values of a VLM) may have another first axis.
    for key in ("input_ids", "attention_mask"):
        value = sentence_feature.get(key)
        if isinstance(value, Tensor):
            return value.shape[0]
    return next(v.shape[0] for v in sentence_feature.values() if isinstance(v, Tensor) and v.ndim > 0)


# Indexed per image rather than per sample by grid-less VLMs (LLaVA, Gemma3).
_PER_IMAGE_KEYS = ("pixel_values", "image_position_ids", "image_sizes")
# Processors that pad images per sample (Idefics3, Mllama) emit these, and then everything stays sample-first.
_PER_SAMPLE_IMAGE_KEYS = ("pixel_attention_mask", "aspect_ratio_ids")


def _prefix_range(counts: Tensor, begin: int, end: int) -> tuple[int, int]:
    """Element range [first, last) covered by samples [begin, end), given per-sample element ``counts``."""
    cumulative = counts.cumsum(dim=0)
    first = 0 if begin == 0 else int(cumulative[begin - 1].item())
    last = 0 if end == 0 else int(cumulative[end - 1].item())
    return first, last


def _vision_ranges(features: dict[str, Any], begin: int, end: int, batch_size: int) -> dict[str, tuple[int, int]]:
    """Slices of the tensors that are indexed by image/visual token rather than by sample."""
    ranges: dict[str, tuple[int, int]] = {}
    for grid_key, pixel_key, count_key in (("image_grid_thw", "pixel_values", "num_images_per_sample"),
                                           ("video_grid_thw", "pixel_values_videos", "num_videos_per_sample")):
        grid, pixels = features.get(grid_key), features.get(pixel_key)
        if grid is None or pixels is None:
            continue
        counts = features.get(count_key)
        if counts is not None:
            grid_range = _prefix_range(counts, begin, end)
            ranges[grid_key] = grid_range
        elif grid.shape[0] == batch_size:  # one grid row per sample
            grid_range = (begin, end)
        else:
            continue
        # Visual tokens per grid row are the product of its (t, h, w).
        ranges[pixel_key] = (_prefix_range(grid.prod(dim=1), *grid_range)
                             if grid_range[0] < grid_range[1] else (0, 0))
    counts, pixels = features.get("num_images_per_sample"), features.get("pixel_values")
    if (counts is not None and pixels is not None and "pixel_values" not in ranges
            and not any(key in features for key in _PER_SAMPLE_IMAGE_KEYS)
            and pixels.shape[0] == int(counts.sum().item())):
        image_range = _prefix_range(counts, begin, end)
        for key in _PER_IMAGE_KEYS:
            if key in features:
                ranges[key] = image_range
    return ranges


def _create_minibatch(sentence_feature: dict[str, Any], begin: int, end: int) -> dict[str, Any]:
    """Samples [begin, end) of a features dict.

    Padded inputs are sliced on the batch axis, and trailing token columns that are padding for every selected
    sample are dropped (so a mini-batch of short texts runs at its own width; leading padding is kept, since
    positions may derive from it, and ColBERT ``query_expansion_positions`` count as real). Flattened inputs
    (``cu_seq_lens_q``, from ``DataCollatorWithFlattening``) get their token span and rebuilt metadata. VLM tensors
    indexed per image or per visual token are sliced with the samples they belong to. StaticEmbedding-style flat
    ids (``input_ids`` + ``offsets``) are cut at the offsets.

    Example:
        >>> mask = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
        >>> _create_minibatch({"input_ids": mask * 7, "attention_mask": mask}, 1, 3)["input_ids"].tolist()
        [[7, 0], [7, 7]]
    """
    if "cu_seq_lens_q" in sentence_feature:
        return _create_flattened_minibatch(sentence_feature, begin, end)
    batch_size = _get_batch_size(sentence_feature)
    end = min(end, batch_size)
    ids, offsets = sentence_feature.get("input_ids"), sentence_feature.get("offsets")
    if isinstance(ids, Tensor) and ids.ndim == 1 and isinstance(offsets, Tensor):
        first = int(offsets[begin]) if begin < batch_size else ids.shape[0]
        last = int(offsets[end]) if end < batch_size else ids.shape[0]
        return {**sentence_feature, "input_ids": ids[first:last], "offsets": offsets[begin:end] - first}

    special = _vision_ranges(sentence_feature, begin, end, batch_size)
    width, keep = None, None
    mask = sentence_feature.get("attention_mask")
    if isinstance(mask, Tensor) and mask.ndim == 2:
        width = mask.shape[1]
        active = mask[begin:end].bool()
        expansion = sentence_feature.get("query_expansion_positions")
        if isinstance(expansion, Tensor):
            active = active | expansion[begin:end].bool()
        columns = active.any(dim=0)
        if bool(columns.any()):
            last_active = int(columns.nonzero().max().item())
            if last_active + 1 < width:
                keep = last_active + 1

    out: dict[str, Any] = {}
    for key, value in sentence_feature.items():
        if not isinstance(value, Tensor):
            out[key] = value
        elif key in special:
            first, last = special[key]
            if first != last:
                out[key] = value[first:last]
        elif keep is not None and value.ndim >= 2 and value.shape[1] == width:
            out[key] = value[begin:end, :keep]
        elif value.ndim == 0:
            out[key] = value
        else:
            out[key] = value[begin:end]
    return out


def _create_flattened_minibatch(features: dict[str, Any], begin: int, end: int) -> dict[str, Any]:
    cu = features["cu_seq_lens_q"]
    end = min(end, len(cu) - 1)
    first, last, total = int(cu[begin].item()), int(cu[end].item()), int(cu[-1].item())
    new_cu = cu[begin:end + 1] - cu[begin]
    out: dict[str, Any] = {}
    for key, value in features.items():
        if key in ("cu_seq_lens_q", "cu_seq_lens_k"):
            out[key] = new_cu
        elif key in ("max_length_q", "max_length_k"):
            out[key] = int((new_cu[1:] - new_cu[:-1]).max().item())
        elif key == "seq_idx":
            out[key] = value[..., first:last] - begin
        elif isinstance(value, Tensor) and value.ndim >= 1 and value.shape[-1] == total:
            out[key] = value[..., first:last]  # token-level tensors (input_ids, position_ids, ...)
        else:
            out[key] = value
    return out


def _minibatch_ranges(sentence_feature: dict[str, Any], mini_batch_size: int,
                      mini_batch_num_tokens: int | None = None) -> list[tuple[int, int]]:
    """Sample ranges [begin, end) that cut one column into mini-batches.

    Fixed-size (``mini_batch_size`` samples), or, with ``mini_batch_num_tokens``, greedily packed with as many samples
    as fit in that many real (non-padding) tokens; a single longer sample gets a range of its own. Token counts come
    from ``cu_seq_lens_q`` (flattened inputs) or the attention mask (padded inputs).

    Example:
        >>> mask = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1]])
        >>> _minibatch_ranges({"attention_mask": mask}, 2, mini_batch_num_tokens=3)
        [(0, 2), (2, 3)]
    """
    batch_size = _get_batch_size(sentence_feature)
    if mini_batch_num_tokens is None:
        return [(b, min(b + mini_batch_size, batch_size)) for b in range(0, batch_size, mini_batch_size)]
    if "cu_seq_lens_q" in sentence_feature:
        cumulative = sentence_feature["cu_seq_lens_q"][1:].tolist()
    elif "attention_mask" in sentence_feature:
        cumulative = sentence_feature["attention_mask"].sum(dim=1).cumsum(dim=0).tolist()
    else:
        raise ValueError(
            "mini_batch_num_tokens needs the number of tokens of every sequence, but the features contain neither "
            "'cu_seq_lens_q' (flattened inputs) nor 'attention_mask' (padded inputs); use mini_batch_size instead."
        )
    ranges, begin = [], 0
    while begin < batch_size:
        before = cumulative[begin - 1] if begin else 0
        end = max(begin + 1, bisect.bisect_right(cumulative, before + mini_batch_num_tokens))
        ranges.append((begin, end))
        begin = end
    return ranges


# embedkit's earlier public names for the two helpers above.
minibatch_ranges = _minibatch_ranges
slice_features = _create_minibatch


def _validate_mini_batch_num_tokens(mini_batch_num_tokens: int | None) -> None:
    """Raise unless ``mini_batch_num_tokens`` is None or a positive integer."""
    if mini_batch_num_tokens is not None and mini_batch_num_tokens <= 0:
        raise ValueError("mini_batch_num_tokens must be a positive integer or None.")


def uses_gradient_cache(loss: Any) -> bool:
    """Whether ``loss`` defers its backward pass to a hook on the loss tensor it returns (GradCache).

    Such a loss re-embeds during the *backward* pass, after a wrapper that patched the model's forward for the
    duration of the forward pass has restored it: MatryoshkaLoss therefore wraps ``calculate_loss`` instead, and
    AdaptiveLayerLoss warns. Losses declare it with a ``uses_gradient_cache`` attribute.

    Example:
        >>> uses_gradient_cache(torch.nn.MSELoss())
        False
    """
    return bool(getattr(loss, "uses_gradient_cache", False))


def has_static_embedding_input(model: Any) -> bool:
    """Whether ``model`` embeds its inputs with a StaticEmbedding, directly or as the first module of a Router route.

    StaticEmbedding features (an EmbeddingBag's flat ids and offsets) have no batch axis, which the sentence-
    transformers cached losses refuse.
    """
    from embedkit.sentence_transformer.modules import Router, StaticEmbedding

    model = getattr(model, "_orig_mod", model)
    try:
        first = model[0]
    except (TypeError, IndexError, KeyError):
        return False
    if isinstance(first, Router):
        candidates = [route[0] for route in first.sub_modules.values()]
    else:
        candidates = [first]
    return any(isinstance(module, StaticEmbedding) for module in candidates)


@contextmanager
def sparse_embedding_gradients(model: nn.Module) -> Iterator[None]:
    """Within this block, embedding tables that already hold a dense ``.grad`` get sparse per-lookup gradients.

    A dense embedding backward allocates a zero (vocabulary, D) gradient and adds it to ``.grad``: 47 MB each for a
    BERT vocabulary, once per replayed mini-batch. A sparse one carries just the looked-up rows, which autograd adds
    into the existing dense ``.grad``, so ``.grad`` ends up equal (up to float summation order) and stays dense.
    Tables without a ``.grad`` yet keep dense gradients, so a table the replay never reaches keeps ``grad=None``.
    """
    switched = []
    for module in model.modules() if isinstance(model, nn.Module) else ():
        grad = module.weight.grad if type(module) is nn.Embedding else None
        if grad is not None and not module.sparse and grad.layout == torch.strided and grad.grad_fn is None:
            module.sparse = True
            switched.append(module)
    try:
        yield
    finally:
        for module in switched:
            module.sparse = False


def _takes_with_backward(method: Any) -> bool:
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return True
    return "with_backward" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def _backward_hook(grad_output: Tensor, sentence_features: list[dict[str, Any]], loss_obj: Any,
                   cache: list[list[Tensor]], random_states: list[list[RandContext | None]],
                   ranges: list[list[tuple[int, int]] | None]) -> None:
    """Replay every mini-batch with gradients and push its cached gradient, scaled by ``grad_output``, into the model.

    ``loss_obj.embed_minibatch_iter`` must yield items whose first element is the embeddings tensor. The cache, the
    RNG states and the ranges belong to one forward pass and are bound here, so a second forward before the first
    backward cannot mix them up.
    """
    model = getattr(loss_obj, "model", None)
    with torch.enable_grad():
        for features, grads, states, column_ranges in zip(sentence_features, cache, random_states, ranges):
            iterator = loss_obj.embed_minibatch_iter(sentence_feature=features, with_grad=True,
                                                     copy_random_state=False, random_states=states,
                                                     ranges=column_ranges)
            for grad in grads:
                with sparse_embedding_gradients(model):  # re-checked per mini-batch: the first one makes .grad
                    reps, *_ = next(iterator)
                    if not reps.requires_grad:  # e.g. a frozen route
                        continue
                    dtype = torch.promote_types(reps.dtype, grad.dtype)
                    if dtype in (torch.float16, torch.bfloat16):
                        dtype = torch.float32
                    surrogate = torch.dot(reps.flatten().to(dtype), grad.flatten().to(dtype)) * grad_output
                    surrogate.backward()


class CachedLossMixin:
    """The GradCache forward pass shared by the cached losses (see the module docstring).

    The host is an ``nn.Module`` with ``model``, ``mini_batch_size`` (and optionally ``mini_batch_num_tokens``,
    ``show_progress_bar``) that implements :meth:`calculate_loss` and calls :meth:`forward_cached` from ``forward``.
    It may override :meth:`embed` (default: the model's ``sentence_embedding``) or :meth:`embed_minibatch` (whose
    result must start with the embeddings and end with the RNG state; anything in between, such as a guide model's
    embeddings, is collected per column and handed to :meth:`compute_cached_loss`).
    """

    model: Any
    mini_batch_size: int
    mini_batch_num_tokens: int | None = None
    show_progress_bar: bool = False
    uses_gradient_cache: bool = True

    def calculate_loss(self, reps: list[list[Tensor]], labels: Tensor | None = None, *,
                       with_backward: bool = False) -> Tensor:
        """The loss over the whole batch from ``reps[column][mini_batch]`` embeddings.

        With ``with_backward``, backpropagate it (up to the embeddings) and return the detached value.
        """
        raise NotImplementedError

    def embed(self, features: dict[str, Any]) -> Tensor:
        """Embeddings of one mini-batch of features."""
        return self.model(features)["sentence_embedding"]

    def embed_minibatch(self, sentence_feature: dict[str, Any], begin: int, end: int, with_grad: bool,
                        copy_random_state: bool, random_state: RandContext | None = None
                        ) -> tuple[Tensor, RandContext | None]:
        """Embed samples [begin, end) of one column; optionally record the RNG state first, or replay one."""
        minibatch = _create_minibatch(sentence_feature, begin, end)
        with nullcontext() if random_state is None else random_state:
            with nullcontext() if with_grad else torch.no_grad():
                state = RandContext(*minibatch.values()) if copy_random_state else None
                reps = self.embed(minibatch)
        return reps, state

    def embed_minibatch_iter(self, sentence_feature: dict[str, Any], with_grad: bool, copy_random_state: bool,
                             random_states: list[RandContext | None] | None = None,
                             ranges: list[tuple[int, int]] | None = None) -> Iterator[tuple[Any, ...]]:
        """Embed every mini-batch of one column, yielding :meth:`embed_minibatch`'s results."""
        if ranges is None:
            ranges = _minibatch_ranges(sentence_feature, self.mini_batch_size,
                                       getattr(self, "mini_batch_num_tokens", None))
        iterable: Iterable[tuple[int, int]] = ranges
        if getattr(self, "show_progress_bar", False):
            from tqdm.auto import tqdm

            iterable = tqdm(ranges, desc="Embed mini-batches", leave=False)
        for index, (begin, end) in enumerate(iterable):
            yield self.embed_minibatch(sentence_feature=sentence_feature, begin=begin, end=end, with_grad=with_grad,
                                       copy_random_state=copy_random_state,
                                       random_state=None if random_states is None else random_states[index])

    def compute_cached_loss(self, reps: list[list[Tensor]], extras: list[list[tuple[Any, ...]]],
                            labels: Tensor | None, with_backward: bool) -> Tensor:
        """Step 2: call :meth:`calculate_loss`. Hosts whose mini-batches carry extra outputs override this."""
        if _takes_with_backward(self.calculate_loss):
            return self.calculate_loss(reps, labels, with_backward=with_backward)
        # embedkit's earlier protocol: one full-batch tensor per column, the mixin backpropagates.
        loss = self.calculate_loss([torch.cat(column) for column in reps], labels)
        if with_backward:
            loss.backward()
            loss = loss.detach()
        return loss

    def calculate_loss_and_cache_gradients(self, reps: list[list[Tensor]], *args: Any
                                           ) -> tuple[Tensor, list[list[Tensor]]]:
        """Step 2 alone, for callers driving the steps themselves: the detached loss (a leaf requiring grad) and the
        gradients w.r.t. the mini-batch embeddings ``reps`` (leaves requiring grad), one list per column.
        Extra positional arguments (e.g. a guide's embeddings) are passed on to :meth:`calculate_loss`."""
        if args:
            loss = self.calculate_loss(reps, *args, with_backward=True)
        else:
            loss = self.compute_cached_loss(reps, [[()] * len(column) for column in reps], None, with_backward=True)
        return loss.detach().requires_grad_(), [[r.grad for r in column] for column in reps]

    def forward_cached(self, sentence_features: Iterable[dict[str, Any]], labels: Tensor | None = None) -> Tensor:
        """The three GradCache steps; returns a loss whose backward replays the mini-batches."""
        sentence_features = list(sentence_features)
        grad_enabled = torch.is_grad_enabled()
        num_tokens = getattr(self, "mini_batch_num_tokens", None)
        # Boundaries first: modules may edit features in place, and step 3 must replay step 1 exactly.
        ranges = [_minibatch_ranges(f, self.mini_batch_size, num_tokens) for f in sentence_features]
        reps: list[list[Tensor]] = []
        extras: list[list[tuple[Any, ...]]] = []
        states: list[list[RandContext | None]] = []
        for features, column_ranges in zip(sentence_features, ranges):
            column_reps, column_extras, column_states = [], [], []
            for reps_mb, *middle, state in self.embed_minibatch_iter(
                    sentence_feature=features, with_grad=False, copy_random_state=grad_enabled,
                    ranges=column_ranges):
                column_reps.append(reps_mb.detach().requires_grad_(grad_enabled))
                column_extras.append(tuple(middle))
                column_states.append(state)
            reps.append(column_reps)
            extras.append(column_extras)
            states.append(column_states)
        if not grad_enabled:  # evaluation: nothing to cache, no backward to hook into
            return self.compute_cached_loss(reps, extras, labels, with_backward=False)

        loss = self.compute_cached_loss(reps, extras, labels, with_backward=True)
        loss = loss.detach().requires_grad_()
        cache = [[r.grad for r in column] for column in reps]
        unused = [str(i) for i, column in enumerate(cache) if any(g is None for g in column)]
        if unused:
            raise ValueError(
                f"The loss computation of {type(self).__name__} did not use input column(s) {', '.join(unused)}: "
                "their embeddings received no gradient. Every input column is embedded (twice, with gradient "
                "caching), so remove the unused column(s) from the dataset instead."
            )
        loss.register_hook(partial(_backward_hook, sentence_features=sentence_features, loss_obj=self, cache=cache,
                                   random_states=states, ranges=ranges))
        return loss
