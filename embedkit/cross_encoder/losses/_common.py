"""Helpers shared by the CrossEncoder losses: model checks, pair scoring, and padding ranked lists.

Einstein legend: B queries (rows), N the longest list of documents in the batch, P = total (query, document) pairs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from embedkit.cross_encoder.model import CrossEncoder
from embedkit.util.misc import fullname

__all__ = ["check_cross_encoder", "fullname", "preprocess_kwargs", "score_pairs", "score_lists"]


def check_cross_encoder(loss: nn.Module, model: Any, single_label: bool = True) -> None:
    """Raise ValueError unless ``model`` is a CrossEncoder (with one output label if ``single_label``)."""
    name = type(loss).__name__
    if not isinstance(model, CrossEncoder):
        raise ValueError(f"{name} expects a model of type CrossEncoder, but got a model of type {type(model)}.")
    if single_label and model.num_labels != 1:
        raise ValueError(f"{name} expects a model with 1 output label, but got a model with {model.num_labels} "
                         "output labels.")


def score_pairs(model: CrossEncoder, pairs: list[tuple[str, str]], prompt: str | None = None,
                task: str | None = None) -> Tensor:
    """Logits of ``pairs`` in one forward pass: (P, num_labels). ``prompt`` / ``task`` go to ``model.preprocess``."""
    features = {k: v.to(model.device) if isinstance(v, Tensor) else v
                for k, v in model.preprocess(pairs, **preprocess_kwargs(prompt, task)).items()}
    return model(features)["scores"]


def preprocess_kwargs(prompt: str | None, task: str | None) -> dict[str, Any]:
    """The keyword arguments a loss forwards to ``model.preprocess``: only those that are set."""
    kwargs: dict[str, Any] = {}
    if prompt is not None:
        kwargs["prompt"] = prompt
    if task is not None:
        kwargs["task"] = task
    return kwargs


def _label_rows(labels: Any, loss_name: str) -> list[Tensor]:
    """Per-query label lists: a list of 1-D tensors (ragged) or a (B, N) tensor (equal lengths)."""
    if isinstance(labels, Tensor):
        if labels.ndim != 2:
            raise ValueError(f"{loss_name} expects a list of labels for each sample (a list of tensors, or a 2-D "
                             f"tensor), but got a tensor of shape {tuple(labels.shape)}.")
        return list(labels)
    if not isinstance(labels, (list, tuple)):
        raise ValueError(f"{loss_name} expects a list of labels for each sample, got {type(labels).__name__}.")
    return [row if isinstance(row, Tensor) else torch.as_tensor(row) for row in labels]


def score_lists(
    model: CrossEncoder, inputs: list[Any], labels: Any, mini_batch_size: int | None, activation_fn: nn.Module,
    loss_name: str, prompt: str | None = None, task: str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Score every (query, document) pair of a listwise batch and pad the lists into matrices.

    Pairs are scored ``mini_batch_size`` at a time (default: B pairs at a time, as sentence-transformers; ``<= 0``:
    all at once). Activations are fp32.

    Args:
        inputs: ``[queries (B strings), documents (B lists of strings, any lengths)]``.
        labels: one label per document: a list of B 1-D tensors or a (B, N) tensor.

    Returns:
        ``logits`` (B, N) fp32, ``labels`` (B, N) fp32 and ``mask`` (B, N) bool; padded cells are 0 and masked out.

    Raises:
        ValueError: wrong number of input columns, labels that are not per-query lists, label and document counts
            that disagree, or a query without documents.
    """
    if len(inputs) != 2:
        raise ValueError(f"{loss_name} expects two inputs (queries, documents_list), but got {len(inputs)} inputs.")
    label_rows = _label_rows(labels, loss_name)
    queries, docs_list = inputs
    docs_per_query = [len(docs) for docs in docs_list]
    if docs_per_query != [len(row) for row in label_rows]:
        raise ValueError(f"Number of documents per query in inputs ({docs_per_query}) does not match number of "
                         f"labels per query ({[len(row) for row in label_rows]}).")
    if min(docs_per_query, default=0) == 0:
        raise ValueError(f"{loss_name}: every query needs at least one document, got {docs_per_query} documents "
                         "per query")
    batch_size, max_docs = len(queries), max(docs_per_query)
    pairs = [(query, doc) for query, docs in zip(queries, docs_list) for doc in docs]
    step = mini_batch_size or batch_size
    if step <= 0:
        step = len(pairs)
    flat = torch.cat([score_pairs(model, pairs[i : i + step], prompt, task).view(-1)
                      for i in range(0, len(pairs), step)])
    flat = activation_fn(flat.float())  # (P,)

    device = flat.device
    rows = torch.repeat_interleave(torch.arange(batch_size), torch.tensor(docs_per_query)).to(device)  # (P,)
    cols = torch.cat([torch.arange(n) for n in docs_per_query]).to(device)  # (P,)
    logits = flat.new_zeros(batch_size, max_docs).index_put((rows, cols), flat)  # (B, N)
    label_matrix = torch.zeros(batch_size, max_docs, device=device)
    label_matrix[rows, cols] = torch.cat([row.to(device).float().view(-1) for row in label_rows])
    mask = torch.zeros(batch_size, max_docs, dtype=torch.bool, device=device)
    mask[rows, cols] = True
    return logits, label_matrix, mask
