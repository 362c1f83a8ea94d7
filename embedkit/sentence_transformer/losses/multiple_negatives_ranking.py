"""MultipleNegativesRankingLoss: InfoNCE with in-batch negatives (and optional hard negatives).

References:
    - van den Oord et al., 2018, "Representation Learning with Contrastive Predictive Coding", arXiv:1807.03748.
    - Henderson et al., 2017, "Efficient Natural Language Response Suggestion for Smart Reply", arXiv:1705.00652.
    - Li et al., 2023, "Towards General Text Embeddings with Multi-stage Contrastive Learning" (GTE, all four
      directions), arXiv:2308.03281; Günther et al., 2023, "Jina Embeddings 2" (symmetric, per-direction),
      arXiv:2310.19923.
    - sentence-transformers ``sentence_transformer/losses/multiple_negatives_ranking.py`` (v6.2), whose constructor,
      defaults and config dict this file follows.

Einstein legend: B local batch rows, W world size, K = number of document columns (1 positive + hard negatives),
N = B * W (rows over all ranks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
from torch import Tensor, nn

from embedkit.distributed import all_gather_with_grad, get_rank
from embedkit.sentence_transformer.losses._columns import embed_columns
from embedkit.util import cos_sim
from embedkit.util.misc import similarity_fct_name

logger = logging.getLogger(__name__)

Direction = Literal["query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"]
VALID_DIRECTIONS = ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")
VALID_PARTITION_MODES = ("joint", "per_direction")
VALID_HARDNESS_MODES = (None, "in_batch_negatives", "hard_negatives", "all_negatives")

_CITATION_INFONCE = """
@misc{oord2019representationlearningcontrastivepredictive,
      title={Representation Learning with Contrastive Predictive Coding},
      author={Aaron van den Oord and Yazhe Li and Oriol Vinyals},
      year={2019},
      eprint={1807.03748},
      archivePrefix={arXiv},
      primaryClass={cs.LG},
      url={https://arxiv.org/abs/1807.03748},
}
"""
_CITATION_GTE = """
@misc{li2023generaltextembeddingsmultistage,
      title={Towards General Text Embeddings with Multi-stage Contrastive Learning},
      author={Zehan Li and Xin Zhang and Yanzhao Zhang and Dingkun Long and Pengjun Xie and Meishan Zhang},
      year={2023},
      eprint={2308.03281},
      archivePrefix={arXiv},
      primaryClass={cs.CL},
      url={https://arxiv.org/abs/2308.03281},
}
"""
_CITATION_JINA = """
@misc{günther2024jinaembeddings28192token,
      title={Jina Embeddings 2: 8192-Token General-Purpose Text Embeddings for Long Documents},
      author={Michael Günther and Jackmin Ong and Isabelle Mohr and Alaeddine Abdessalem and Tanguy Abel and Mohammad Kalim Akram and Susana Guzman and Georgios Mastrapas and Saba Sturua and Bo Wang and Maximilian Werk and Nan Wang and Han Xiao},
      year={2024},
      eprint={2310.19923},
      archivePrefix={arXiv},
      primaryClass={cs.CL},
      url={https://arxiv.org/abs/2310.19923},
}
"""  # noqa: E501


class MultipleNegativesRankingLoss(nn.Module):
    """Cross-entropy of each query against its positive, with every other document in the batch as a negative.

    For query ``i`` the candidates are all documents of the batch (positives of the other rows and every hard
    negative column), scored with ``scale * similarity_fct``; the target is the row's own positive. Extra
    ``directions`` add more candidates to the softmax denominator: other queries (``query_to_query``), and, seen
    from the positive document, other queries (``doc_to_query``) or other documents (``doc_to_doc``). With
    ``partition_mode="joint"`` all candidates share one softmax; with ``"per_direction"`` each direction has its
    own log-partition and the mean of them is used. ``hardness_mode`` adds ``hardness_strength * sim`` (no
    gradient through the weight) to the selected negatives' logits, which up-weights hard negatives.

    Args:
        model: The SentenceTransformer to train (may be None when only ``compute_loss_from_embeddings`` is used).
        scale: Inverse temperature multiplying the similarities; must be > 0.
        similarity_fct: ``(a (n, D), b (m, D)) -> (n, m)`` similarity, e.g. ``cos_sim`` or ``dot_score``.
        gather_across_devices: Under torch.distributed, also use the other ranks' documents (and queries) as
            negatives; gradients flow back to the rank that produced them.
        directions: Which similarity blocks enter the partition function; must contain ``"query_to_doc"``.
        partition_mode: ``"joint"`` (one softmax over all directions) or ``"per_direction"``.
        hardness_mode: None, ``"in_batch_negatives"``, ``"hard_negatives"`` or ``"all_negatives"``: which
            query-to-document negatives get the hardness bonus.
        hardness_strength: Size of the hardness bonus (>= 0; 0 disables it).

    Inputs:
        +-------------------------------------------------+--------+
        | Texts                                           | Labels |
        +=================================================+========+
        | (anchor, positive) pairs                        | none   |
        +-------------------------------------------------+--------+
        | (anchor, positive, negative) triplets           | none   |
        +-------------------------------------------------+--------+
        | (anchor, positive, negative_1, ..., negative_n) | none   |
        +-------------------------------------------------+--------+

    Use the no-duplicates batch sampler so that no in-batch "negative" is a copy of the positive.

    Example:
        >>> import torch
        >>> loss = MultipleNegativesRankingLoss(None)
        >>> q = torch.eye(3)
        >>> round(loss.compute_loss_from_embeddings([q, q], None).item(), 6)
        0.0
    """

    def __init__(
        self,
        model: nn.Module | None,
        scale: float = 20.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        gather_across_devices: bool = False,
        directions: tuple[Direction, ...] = ("query_to_doc",),
        partition_mode: Literal["joint", "per_direction"] = "joint",
        hardness_mode: Literal["in_batch_negatives", "hard_negatives", "all_negatives"] | None = None,
        hardness_strength: float = 0.0,
    ) -> None:
        super().__init__()
        self.model = model
        if not scale > 0:
            raise ValueError("Scale must be a positive value.")
        self.scale = scale
        self.similarity_fct = similarity_fct
        self.gather_across_devices = gather_across_devices
        if not directions:
            raise ValueError("At least one direction must be specified.")
        unknown = [d for d in directions if d not in VALID_DIRECTIONS]
        if unknown:
            raise ValueError(f"Invalid directions: {set(unknown)}. Valid: {set(VALID_DIRECTIONS)}")
        if "query_to_doc" not in directions:
            raise ValueError("'query_to_doc' direction is required (contains the positive pair).")
        self.directions = tuple(directions)
        if partition_mode not in VALID_PARTITION_MODES:
            raise ValueError(f"partition_mode must be 'joint' or 'per_direction', got {partition_mode}")
        if partition_mode == "per_direction" and {"query_to_query", "doc_to_doc"} & set(directions):
            raise ValueError(
                f"partition_mode='per_direction' needs the positive in every direction's candidates, but "
                f"'query_to_query'/'doc_to_doc' never contain it; got directions={directions!r}. "
                f"Use partition_mode='joint'."
            )
        self.partition_mode = partition_mode
        if hardness_mode not in VALID_HARDNESS_MODES:
            raise ValueError(f"hardness_mode must be one of {VALID_HARDNESS_MODES}, got {hardness_mode!r}")
        self.hardness_mode = hardness_mode
        if hardness_strength < 0.0:
            raise ValueError("hardness_strength must be non-negative.")
        self.hardness_strength = hardness_strength
        if hardness_mode is not None and hardness_strength == 0.0:
            logger.warning("hardness_mode=%r has no effect with hardness_strength=0.0", hardness_mode)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None, *,
                                     gather: Callable[[Tensor], Tensor] | None = None,
                                     rank: int | None = None) -> Tensor:
        """The loss from precomputed embeddings.

        Args:
            embeddings: ``[queries, positives, negatives_1, ...]``, each (B, D).
            labels: Unused.
            gather: with ``gather_across_devices``, the differentiable all-gather to use (default
                :func:`embedkit.distributed.all_gather_with_grad`).
            rank: this process's rank for ``gather_across_devices`` (default: the current rank).

        Returns:
            Scalar mean loss over the (local) queries.
        """
        if len(embeddings) < 2:
            raise ValueError(f"expected at least 2 embedding columns (query, positive), got {len(embeddings)}")
        queries, docs = embeddings[0], list(embeddings[1:])  # (B, D), K x (B, D)
        batch_size = queries.size(0)
        offset = 0
        if self.gather_across_devices:
            # Every rank sees all ranks' queries and documents; only its own B query rows are scored.
            gather = gather or all_gather_with_grad
            queries = gather(queries)  # (N, D)
            docs = [gather(d) for d in docs]  # K x (N, D)
            offset = (get_rank() if rank is None else rank) * batch_size
        n_all = queries.size(0)
        device = queries.device
        docs_all = torch.cat(docs, dim=0)  # (K*N, D): column k*N + j is document column k of row j
        local = torch.arange(offset, offset + batch_size, device=device)  # global row ids of the local rows
        rows = torch.arange(batch_size, device=device)
        local_queries = queries[local]  # (B, D)
        local_positives = docs[0][local]  # (B, D)

        sims: dict[str, Tensor] = {"query_to_doc": self.similarity_fct(local_queries, docs_all)}  # (B, K*N)
        if "query_to_query" in self.directions:
            q2q = self.similarity_fct(local_queries, queries)  # (B, N)
            sims["query_to_query"] = q2q.index_put((rows, local), q2q.new_tensor(-torch.inf))  # not its own negative
        if "doc_to_query" in self.directions:
            sims["doc_to_query"] = self.similarity_fct(queries, local_positives).T  # (B, N)
        if "doc_to_doc" in self.directions:
            d2d = self.similarity_fct(docs_all, local_positives).T  # (B, K*N)
            own_docs = torch.eye(n_all, device=device, dtype=torch.bool)[local].repeat(1, len(docs))
            sims["doc_to_doc"] = d2d.masked_fill(own_docs, -torch.inf)  # the row's own documents are excluded

        penalty = None
        if self.hardness_mode is not None and self.hardness_strength > 0.0:
            penalty = self._hardness_penalty(sims["query_to_doc"].detach(), local, n_all, len(docs))

        logits = {key: sim * self.scale for key, sim in sims.items()}
        if penalty is not None:
            logits["query_to_doc"] = logits["query_to_doc"] + penalty
        positive_logits = logits["query_to_doc"][rows, local]  # (B,)
        if self.partition_mode == "joint":
            log_z = torch.logsumexp(torch.cat(list(logits.values()), dim=1), dim=1)  # (B,)
        else:
            log_z = sum(torch.logsumexp(block, dim=1) for block in logits.values()) / len(logits)
        return (log_z - positive_logits).mean()

    def _hardness_penalty(self, q2d: Tensor, local: Tensor, n_all: int, n_doc_columns: int) -> Tensor:
        """``hardness_strength * sim`` on the negatives selected by ``hardness_mode``, 0 elsewhere. (B, K*N)."""
        own = torch.eye(n_all, device=q2d.device, dtype=torch.bool)[local].repeat(1, n_doc_columns)  # (B, K*N)
        if self.hardness_mode == "in_batch_negatives":  # other rows' documents, any column
            excluded = own
        elif self.hardness_mode == "hard_negatives":  # only the row's own hard-negative columns
            excluded = ~own
            excluded[:, :n_all] = True
        else:  # all_negatives: other rows' documents and own hard negatives; not the own positive
            excluded = own.clone()
            excluded[:, n_all:] = False
        return (self.hardness_strength * q2d).masked_fill(excluded, 0.0)

    @property
    def temperature(self) -> float:
        return 1.0 / self.scale

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "similarity_fct": similarity_fct_name(self.similarity_fct),
            "gather_across_devices": self.gather_across_devices,
            "directions": self.directions,
            "partition_mode": self.partition_mode,
            "hardness_mode": self.hardness_mode,
            "hardness_strength": self.hardness_strength,
        }

    @property
    def citation(self) -> str:
        if set(self.directions) == set(VALID_DIRECTIONS) and self.partition_mode == "joint":
            return _CITATION_GTE
        if set(self.directions) == {"query_to_doc", "doc_to_query"} and self.partition_mode == "per_direction":
            return _CITATION_JINA
        return _CITATION_INFONCE
