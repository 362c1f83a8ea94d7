"""Training arguments: the Hugging Face / sentence-transformers names users already write, as a plain dataclass.

Every field has a type ``transformers.HfArgumentParser`` understands, so ``HfArgumentParser(
SentenceTransformerTrainingArguments)`` builds a command-line parser; dict-valued arguments also accept their JSON
string. A few Hugging Face arguments that have no effect in embedkit's loop (``push_to_hub`` and the ``hub_*``
family, ``dataloader_pin_memory``, ``dataloader_prefetch_factor``, ``dataloader_persistent_workers``,
``dataloader_multiprocessing_context``,
``accelerator_config``, ``prediction_loss_only``, ``remove_unused_columns``, and the prediction / loss options
sentence-transformers' trainer bypasses: ``label_smoothing_factor``, ``eval_accumulation_steps``, ``label_names``,
``train_sampling_strategy``, ...) and those that scripts read rather than the trainer (``do_train``, ``do_eval``,
``do_predict``, ``local_rank``) are accepted so that scripts written for
sentence-transformers run unchanged; any other unknown keyword raises a TypeError naming it. Contradictory combinations
raise in ``__post_init__``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Optional, Union

logger = logging.getLogger(__name__)

SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
              "inverse_sqrt", "cosine_with_min_lr", "cosine_warmup_with_min_lr", "warmup_stable_decay",
              "reduce_lr_on_plateau")
STRATEGIES = ("no", "steps", "epoch")
LOG_LEVELS = ("passive", "debug", "info", "warning", "error", "critical")
OPTIMIZERS = ("adamw_torch_fused", "adamw_torch", "sgd", "adagrad", "rmsprop")
REPORT_TO = ("none", "all", "tensorboard", "wandb", "trackio")


class _ChoiceEnum(str, Enum):
    """A string enum whose unknown values raise a ValueError listing the valid ones."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        raise ValueError(f"{value} is not a valid {cls.__name__}, please select one of "
                         f"{[member.value for member in cls]}")


class BatchSamplers(_ChoiceEnum):
    """How batches are drawn from one dataset (``args.batch_sampler``).

    ``BATCH_SAMPLER`` (default, shuffled), ``NO_DUPLICATES`` / ``NO_DUPLICATES_HASHED`` (no value twice in a batch,
    for in-batch-negative losses; the hashed variant precomputes 64-bit hashes per cell), ``GROUP_BY_LABEL`` (every
    label present at least twice, for batch triplet losses). A :class:`~embedkit.base.sampler.DefaultBatchSampler`
    subclass or a function ``(dataset, batch_size, drop_last, valid_label_columns, generator, seed) -> sampler`` is
    accepted too.

    Example:
        >>> BatchSamplers("no_duplicates") is BatchSamplers.NO_DUPLICATES
        True
    """

    BATCH_SAMPLER = "batch_sampler"
    NO_DUPLICATES = "no_duplicates"
    NO_DUPLICATES_HASHED = "no_duplicates_hashed"
    GROUP_BY_LABEL = "group_by_label"


class MultiDatasetBatchSamplers(_ChoiceEnum):
    """How batches are drawn across datasets (``args.multi_dataset_batch_sampler``).

    ``ROUND_ROBIN`` (one batch per dataset in turn until the smallest runs out) or ``PROPORTIONAL`` (default: every
    batch of every dataset, datasets drawn in proportion to their number of batches). A
    :class:`~embedkit.base.sampler.MultiDatasetDefaultBatchSampler` subclass or a function
    ``(dataset, batch_samplers, generator, seed) -> sampler`` is accepted too.

    Example:
        >>> MultiDatasetBatchSamplers("round_robin").value
        'round_robin'
    """

    ROUND_ROBIN = "round_robin"
    PROPORTIONAL = "proportional"


def _launched_distributed() -> bool:
    """Several processes: torchrun's ``WORLD_SIZE`` > 1, or a started process group of more than one rank (looked
    at only when torch is imported already: a started group implies it, and argument checks stay torch-free)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return True
    dist = sys.modules.get("torch.distributed")
    return bool(dist is not None and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1)


def _json_dict(value: Any, message: str) -> Any:
    """A dict argument given as its JSON string (from a command line) is decoded; an invalid one raises."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise ValueError(message) from None


@dataclass
class BaseTrainingArguments:
    """Arguments of the embedkit trainers (Hugging Face / sentence-transformers names and defaults).

    ``warmup_steps`` follows transformers v5: an int is a number of steps, a float in (0, 1) a ratio of the total
    steps; the deprecated ``warmup_ratio`` is moved into ``warmup_steps`` (with a warning) when ``warmup_steps`` is
    unset. ``dataloader_num_workers`` is accepted, but batches are built in the main process (tokenization is
    already multi-threaded). ``use_cpu=True`` trains on the CPU; as in transformers, ``bf16`` needs either a
    bf16-capable GPU or ``use_cpu=True``.

    Example:
        >>> args = SentenceTransformerTrainingArguments(output_dir="out", num_train_epochs=1,
        ...                                             per_device_train_batch_size=16, warmup_steps=0.1)
        >>> args.lr_scheduler_type, args.learning_rate, args.warmup_steps
        ('linear', 5e-05, 0.1)
    """

    output_dir: Optional[str] = None
    num_train_epochs: float = 3.0
    max_steps: int = -1
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    lr_scheduler_type: str = "linear"
    lr_scheduler_kwargs: Union[dict[str, Any], str, None] = field(default_factory=dict)
    warmup_steps: float = 0
    """An int is a number of steps; a float in (0, 1) is a ratio of the total steps (transformers v5 style)."""
    warmup_ratio: Optional[float] = None
    """Deprecated (transformers v5): moved into ``warmup_steps`` when that is unset."""
    fp16: bool = False
    bf16: bool = False
    use_cpu: bool = False
    eval_strategy: str = "no"
    eval_steps: Optional[float] = None
    eval_on_start: bool = False
    save_strategy: str = "steps"
    save_steps: float = 500
    save_total_limit: Optional[int] = None
    save_only_model: bool = False
    ignore_data_skip: bool = False
    """On resume, start the interrupted epoch's data over instead of skipping the batches already trained."""
    save_on_each_node: bool = False
    """Under torchrun on several nodes without a shared disk: each node's first process writes the checkpoints to
    its own ``output_dir`` (every rank's RNG state included), so every node can resume."""
    logging_steps: float = 500
    logging_first_step: bool = False
    logging_nan_inf_filter: bool = True
    load_best_model_at_end: bool = False
    metric_for_best_model: Optional[str] = None
    greater_is_better: Optional[bool] = None
    seed: int = 42
    data_seed: Optional[int] = None
    dataloader_drop_last: bool = False
    dataloader_num_workers: int = 0
    dataloader_persistent_workers: bool = False
    dataloader_pin_memory: bool = True
    dataloader_prefetch_factor: Optional[int] = None
    dataloader_multiprocessing_context: Optional[str] = None
    report_to: Union[None, str, list[str]] = "none"
    run_name: Optional[str] = None
    resume_from_checkpoint: Optional[str] = None
    disable_tqdm: bool = False
    prediction_loss_only: bool = True
    remove_unused_columns: bool = True
    """Accepted for Hugging Face compatibility; embedkit's collator always passes the dataset columns through."""
    push_to_hub: bool = False
    hub_model_id: Optional[str] = None
    hub_strategy: str = "every_save"
    hub_token: Optional[str] = None
    hub_private_repo: Optional[bool] = None
    hub_revision: Optional[str] = None
    hub_always_push: bool = False
    accelerator_config: Union[dict[str, Any], str, None] = None
    optim: str = "adamw_torch_fused"
    """``adamw_torch_fused`` (transformers 5's default; plain AdamW where no fused kernel exists), ``adamw_torch``,
    ``sgd``, ``adagrad`` or ``rmsprop``; ``optim_args`` (``"momentum=0.9,nesterov=True"``) read as transformers
    reads them."""
    optim_args: Optional[str] = None
    logging_strategy: str = "steps"
    eval_delay: float = 0
    """Steps (``eval_strategy="steps"``) or epochs (``"epoch"``) before the first evaluation."""
    torch_compile: bool = False
    """Compile the loss modules (and the model inside them) with ``torch.compile`` for training;
    ``torch_compile_backend`` (default inductor) / ``torch_compile_mode`` choose how (either one turns it on)."""
    torch_compile_backend: Optional[str] = None
    torch_compile_mode: Optional[str] = None
    full_determinism: bool = False
    """Deterministic algorithms only (``torch.use_deterministic_algorithms``), set when training starts."""
    tf32: Optional[bool] = None
    torch_empty_cache_steps: Optional[int] = None
    ddp_find_unused_parameters: Optional[bool] = None
    """DDP looks for parameters a step does not use unless this is False (embedkit's default is True)."""
    ddp_broadcast_buffers: Optional[bool] = None
    ddp_bucket_cap_mb: Optional[int] = None
    ddp_static_graph: Optional[bool] = None
    ddp_backend: Optional[str] = None
    """The process group's backend under torchrun (default: nccl on CUDA, gloo otherwise)."""
    log_level: str = "passive"
    """The ``embedkit`` loggers' level on the main process during training (``passive``: left as it is)."""
    log_level_replica: str = "warning"
    """The same on the other ranks."""
    skip_memory_metrics: bool = True
    """Only True: memory metrics are not collected."""
    # Arguments of transformers' prediction and loss machinery that sentence-transformers' trainer bypasses (its
    # evaluation computes losses only, its losses and batch samplers are its own): accepted, no effect, as there.
    label_smoothing_factor: float = 0.0
    eval_accumulation_steps: Optional[int] = None
    eval_do_concat_batches: bool = True
    eval_use_gather_object: bool = False
    batch_eval_metrics: bool = False
    include_for_metrics: list[str] = field(default_factory=list)
    label_names: Optional[list[str]] = None
    average_tokens_across_devices: bool = True
    train_sampling_strategy: str = "random"
    length_column_name: str = "length"
    use_cache: bool = False
    do_train: bool = False
    """``do_train`` / ``do_eval`` / ``do_predict`` / ``local_rank``: read by scripts, not by the trainer (as in
    transformers); ``do_eval`` turns True with an ``eval_strategy``. The rank comes from torchrun's environment."""
    do_eval: bool = False
    do_predict: bool = False
    local_rank: int = -1
    activation_checkpointing: Optional[bool] = None
    """Recompute each encoder layer in backward instead of keeping its activations (less memory, about a third more
    compute, the same results); ``gradient_checkpointing`` is its former name. Both read False when neither is set."""
    activation_checkpointing_kwargs: Union[dict[str, Any], str, None] = None
    """``every_n_layers`` / ``offload`` for the encoders, anything else for ``torch.utils.checkpoint.checkpoint``."""
    gradient_checkpointing: Optional[bool] = None
    gradient_checkpointing_kwargs: Union[dict[str, Any], str, None] = None
    skip_nonfinite_loss: bool = False
    """If True, a step whose loss is NaN/inf is skipped (logged) instead of raising an error that names the step."""
    ddp_timeout: int = 1800
    """Seconds a collective may wait before all ranks fail with a clear error instead of hanging."""
    # sentence-transformers specific
    prompts: Union[str, None, dict[str, str], dict[str, dict[str, str]]] = None
    batch_sampler: Union[BatchSamplers, str, Callable[..., Any]] = BatchSamplers.BATCH_SAMPLER
    multi_dataset_batch_sampler: Union[MultiDatasetBatchSamplers, str, Callable[..., Any]] = (
        MultiDatasetBatchSamplers.PROPORTIONAL)
    router_mapping: Union[str, None, dict[str, str], dict[str, dict[str, str]]] = field(default_factory=dict)
    learning_rate_mapping: Union[str, None, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("output_dir", "resume_from_checkpoint"):  # a Path is kept as its text, ~ expanded (transformers)
            value = getattr(self, name)
            if isinstance(value, os.PathLike) or (name == "output_dir" and isinstance(value, str)):
                setattr(self, name, os.path.expanduser(os.fspath(value)))
        if self.warmup_ratio is not None and self.warmup_steps == 0:
            self.warmup_steps, self.warmup_ratio = self.warmup_ratio, None
            logger.warning(
                "The `warmup_ratio` argument is deprecated in Transformers v5+, and will also be removed from "
                "Sentence Transformers once support for Transformers v4 is dropped. Since you're using Transformers "
                "v5+, please use `warmup_steps` (as a float) to specify the warmup ratio instead.")
        if isinstance(self.prompts, str):
            try:  # a JSON dict from a command line; any other string is the one prompt for every column
                self.prompts = json.loads(self.prompts)
            except json.JSONDecodeError:
                pass
        self.router_mapping = _json_dict(
            self.router_mapping if self.router_mapping is not None else {},
            "The `router_mapping` argument must be a dictionary mapping dataset column names to Router routes, like "
            "'query' or 'document'. A stringified dictionary also works.")
        self.learning_rate_mapping = _json_dict(
            self.learning_rate_mapping if self.learning_rate_mapping is not None else {},
            "The `learning_rate_mapping` argument must be a dictionary mapping parameter name regular expressions to "
            "learning rates. A stringified dictionary also works.")
        self.lr_scheduler_kwargs = _json_dict(self.lr_scheduler_kwargs or {}, "lr_scheduler_kwargs must be a dict "
                                              "(or its JSON string)")
        self.accelerator_config = _json_dict(self.accelerator_config, "accelerator_config must be a dict (or its "
                                             "JSON string)")
        for former, name in (("gradient_checkpointing", "activation_checkpointing"),
                             ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs")):
            if getattr(self, name) is None and getattr(self, former) is not None:
                setattr(self, name, getattr(self, former))
            setattr(self, former, getattr(self, name))  # the former name mirrors the new one, as in transformers
        if self.activation_checkpointing is None:
            self.activation_checkpointing = self.gradient_checkpointing = False
        self.activation_checkpointing_kwargs = self.gradient_checkpointing_kwargs = _json_dict(
            self.activation_checkpointing_kwargs, "activation_checkpointing_kwargs must be a dict (or its JSON string)")
        if isinstance(self.batch_sampler, str):
            self.batch_sampler = BatchSamplers(self.batch_sampler)
        if isinstance(self.multi_dataset_batch_sampler, str):
            self.multi_dataset_batch_sampler = MultiDatasetBatchSamplers(self.multi_dataset_batch_sampler)
        if self.report_to is None:
            self.report_to = ["none"]
        elif isinstance(self.report_to, str):
            self.report_to = [self.report_to]
        for name in ("eval_strategy", "save_strategy", "lr_scheduler_type", "logging_strategy", "optim"):
            value = getattr(self, name)
            if isinstance(value, Enum):
                setattr(self, name, value.value)
        self._check_numbers()
        warmup = self.warmup_steps
        checks = [
            (self.lr_scheduler_type in SCHEDULERS, f"lr_scheduler_type must be one of {SCHEDULERS}, "
                                                    f"got {self.lr_scheduler_type!r}"),
            (self.eval_strategy in STRATEGIES, f"eval_strategy must be one of {STRATEGIES}, "
                                               f"got {self.eval_strategy!r}"),
            (self.logging_strategy in STRATEGIES, f"logging_strategy must be one of {STRATEGIES}, "
                                                  f"got {self.logging_strategy!r}"),
            (self.optim in OPTIMIZERS, f"optim={self.optim!r} is not available in embedkit; use one of {OPTIMIZERS} "
                                       "(optimizers from bitsandbytes, torchao, apex and the like are not supported)"),
            (self.torch_empty_cache_steps is None or (isinstance(self.torch_empty_cache_steps, int)
                                                      and self.torch_empty_cache_steps > 0),
             f"`torch_empty_cache_steps` must be an integer bigger than 0, got {self.torch_empty_cache_steps}."),
            (self.eval_delay >= 0, "eval_delay must be >= 0"),
            (self.ddp_backend in (None, "nccl", "gloo", "mpi", "ccl", "hccl", "cncl", "mccl"),
             f"ddp_backend must be one of nccl, gloo, mpi, ccl, hccl, cncl, mccl; got {self.ddp_backend!r}"),
            (self.log_level in LOG_LEVELS and self.log_level_replica in LOG_LEVELS,
             f"log_level and log_level_replica must be one of {LOG_LEVELS}"),
            (self.skip_memory_metrics, "skip_memory_metrics=False is not supported: embedkit does not collect "
                                       "memory metrics"),
            (self.save_strategy in STRATEGIES + ("best",), f"save_strategy must be one of {STRATEGIES + ('best',)}, "
                                                           f"got {self.save_strategy!r}"),
            (self.per_device_train_batch_size >= 1, "per_device_train_batch_size must be >= 1"),
            (self.per_device_eval_batch_size >= 1, "per_device_eval_batch_size must be >= 1"),
            (self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be >= 1"),
            (self.learning_rate >= 0, "learning_rate must be >= 0"),
            (not (self.fp16 and self.bf16), "At most one of fp16 and bf16 can be True, but not both"),
            (self.max_steps > 0 or self.num_train_epochs > 0, "set num_train_epochs > 0 or max_steps > 0"),
            (self.eval_strategy != "steps" or self.eval_steps is None or self.eval_steps > 0, "eval_steps must be > 0"),
            (self.dataloader_num_workers >= 0, "dataloader_num_workers must be >= 0"),
            (all(r in REPORT_TO for r in self.report_to), f"report_to must be among {REPORT_TO}; embedkit logs to "
                                                          f"the logger, a JSON-lines file and a tqdm bar"),
            (warmup >= 0 and (not isinstance(warmup, float) or warmup < 1 or warmup.is_integer()),
             f"warmup_steps must be a number of steps (int) or a ratio in [0, 1), got {warmup}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.bf16 and not self.use_cpu:
            import torch

            if not (torch.cuda.is_available() and torch.cuda.is_bf16_supported()):
                raise ValueError("Your setup doesn't support bf16/gpu. You need to assign use_cpu if you want to "
                                 "train the model on CPU.")
        if self.tf32:
            import torch

            if not (torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8):
                raise ValueError("--tf32 requires Ampere or a newer GPU arch, cuda>=11 and torch>=1.7")
        if self.eval_strategy != "no":
            self.do_eval = True
        if self.torch_compile_backend is not None or self.torch_compile_mode is not None:
            self.torch_compile = True  # as transformers
        if self.load_best_model_at_end:
            if self.eval_strategy == "no":
                raise ValueError("load_best_model_at_end needs eval_strategy 'steps' or 'epoch'")
            if self.save_strategy not in (self.eval_strategy, "best"):
                raise ValueError(f"load_best_model_at_end needs save_strategy ({self.save_strategy!r}) to match "
                                 f"eval_strategy ({self.eval_strategy!r})")
            if self.save_strategy == "steps" and self.eval_steps and self.save_steps % self.eval_steps:
                raise ValueError(f"load_best_model_at_end needs save_steps ({self.save_steps}) to be a multiple of "
                                 f"eval_steps ({self.eval_steps})")
        if not self.dataloader_drop_last and _launched_distributed():  # as sentence-transformers, under DDP
            if self.output_dir != "unused":
                logger.warning(
                    "When using DistributedDataParallel (DDP), it is recommended to set `dataloader_drop_last=True` "
                    "to avoid hanging issues with an uneven last batch. Setting `dataloader_drop_last=True`.")
            self.dataloader_drop_last = True
        plateau = self.lr_scheduler_type == "reduce_lr_on_plateau"
        if plateau and self.eval_strategy == "no":
            raise ValueError("lr_scheduler_type reduce_lr_on_plateau requires an eval strategy")
        if self.metric_for_best_model is None and (self.load_best_model_at_end or self.save_strategy == "best"
                                                   or plateau):
            self.metric_for_best_model = "loss"
        if self.metric_for_best_model is not None and self.greater_is_better is None:
            self.greater_is_better = not self.metric_for_best_model.endswith("loss")
        if self.eval_strategy == "steps" and not self.eval_steps:
            if not self.logging_steps:
                raise ValueError(f"evaluation strategy {self.eval_strategy} requires either non-zero --eval_steps or "
                                 "--logging_steps")
            self.eval_steps = self.logging_steps
        # "unused" marks an instance built only to compare against the defaults: no warnings for it.
        if (self.output_dir != "unused" and self.dataloader_num_workers > 0 and not self.dataloader_persistent_workers
                and self._workers_are_spawned()):
            logger.warning(
                "When using `dataloader_num_workers > 0` with spawned worker processes, it is recommended to also set "
                "`dataloader_persistent_workers=True`. Every spawned worker imports the library before it can "
                "produce a batch, which takes several seconds per worker, and without persistent workers that cost "
                "is paid again on every epoch and every evaluation. This commonly makes training slower than "
                "`dataloader_num_workers=0`.")

    def _check_numbers(self) -> None:
        """A numeric argument given as text (``max_steps="10"``, a JSON config's ``"learning_rate": "abc"``) is
        refused, naming the argument, before any comparison trips over it."""
        numeric = {"int", "float", "Optional[int]", "Optional[float]", "int | None", "float | None"}
        for f in fields(self):
            value = getattr(self, f.name)
            if str(f.type) in numeric and isinstance(value, str):
                raise TypeError(f"{f.name}={value!r} must be a number ({f.type}), not a string")

    @staticmethod
    def _workers_are_spawned() -> bool:
        """Whether worker processes would start with ``spawn`` (not ``fork``/``forkserver``), read without fixing
        the start method (a later ``multiprocessing.set_start_method`` must still work)."""
        method = multiprocessing.get_start_method(allow_none=True)
        if method is None:
            method = multiprocessing.get_all_start_methods()[0]  # the platform default comes first
        return method == "spawn"

    @property
    def train_batch_size(self) -> int:
        return self.per_device_train_batch_size

    @property
    def eval_batch_size(self) -> int:
        return self.per_device_eval_batch_size

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Enum):
                value = value.value
            elif callable(value) and f.name in ("batch_sampler", "multi_dataset_batch_sampler"):
                continue
            out[f.name] = value
        return out

    def non_default(self) -> dict[str, Any]:
        """Arguments that differ from their defaults (for the model card)."""
        defaults = type(self)(output_dir="unused")
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) != getattr(defaults, f.name)}


@dataclass
class SentenceTransformerTrainingArguments(BaseTrainingArguments):
    """Arguments of :class:`~embedkit.sentence_transformer.trainer.SentenceTransformerTrainer`; see
    :class:`BaseTrainingArguments`.

    Example:
        >>> args = SentenceTransformerTrainingArguments(output_dir="out", batch_sampler="no_duplicates")
        >>> args.batch_sampler
        <BatchSamplers.NO_DUPLICATES: 'no_duplicates'>
    """


@dataclass
class CrossEncoderTrainingArguments(BaseTrainingArguments):
    """Same arguments for :class:`CrossEncoderTrainer`."""


@dataclass
class SparseEncoderTrainingArguments(BaseTrainingArguments):
    """Same arguments for :class:`SparseEncoderTrainer`."""
