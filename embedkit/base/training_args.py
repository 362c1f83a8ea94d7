"""Training arguments: the Hugging Face / sentence-transformers names users already write, as a plain dataclass.

Only arguments the embedkit trainer honours exist here; passing any other keyword raises a TypeError naming it,
so a script never silently trains with a setting it did not get. Contradictory combinations raise in
``__post_init__``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")
STRATEGIES = ("no", "steps", "epoch")
REPORT_TO = ("none", "all", "tensorboard", "wandb", "trackio")


class BatchSamplers(str, Enum):
    """How batches are drawn from one dataset (``args.batch_sampler``)."""

    BATCH_SAMPLER = "batch_sampler"
    NO_DUPLICATES = "no_duplicates"
    GROUP_BY_LABEL = "group_by_label"


class MultiDatasetBatchSamplers(str, Enum):
    """How batches are drawn across several datasets (``args.multi_dataset_batch_sampler``)."""

    ROUND_ROBIN = "round_robin"
    PROPORTIONAL = "proportional"


def _parse_json(value: Any) -> Any:
    if isinstance(value, str) and value.strip().startswith("{"):
        return json.loads(value)
    return value


@dataclass
class SentenceTransformerTrainingArguments:
    """Arguments of :class:`~embedkit.base.trainer.SentenceTransformerTrainer` (HF/ST names and defaults).

    Example:
        >>> args = SentenceTransformerTrainingArguments(output_dir="out", num_train_epochs=1,
        ...                                             per_device_train_batch_size=16, warmup_ratio=0.1)
        >>> args.lr_scheduler_type, args.learning_rate
        ('linear', 5e-05)
    """

    output_dir: str | None = None
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
    lr_scheduler_kwargs: dict[str, Any] = field(default_factory=dict)
    warmup_ratio: float = 0.0
    warmup_steps: int | float = 0
    """An int is a number of steps; a float in (0, 1) is a ratio of the total steps (transformers v5 style)."""
    fp16: bool = False
    bf16: bool = False
    eval_strategy: str = "no"
    eval_steps: int | float | None = None
    eval_on_start: bool = False
    save_strategy: str = "steps"
    save_steps: int | float = 500
    save_total_limit: int | None = None
    save_only_model: bool = False
    logging_steps: int | float = 500
    logging_first_step: bool = False
    load_best_model_at_end: bool = False
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    seed: int = 42
    data_seed: int | None = None
    dataloader_drop_last: bool = False
    dataloader_num_workers: int = 0
    report_to: str | list[str] = "none"
    run_name: str | None = None
    resume_from_checkpoint: str | bool | None = None
    disable_tqdm: bool = False
    skip_nonfinite_loss: bool = False
    """If True, a step whose loss is NaN/inf is skipped (logged) instead of raising an error that names the step."""
    ddp_timeout: int = 1800
    """Seconds a collective may wait before all ranks fail with a clear error instead of hanging."""
    # sentence-transformers specific
    prompts: str | dict[str, Any] | None = None
    batch_sampler: BatchSamplers | str | Any = BatchSamplers.BATCH_SAMPLER
    multi_dataset_batch_sampler: MultiDatasetBatchSamplers | str | Any = MultiDatasetBatchSamplers.PROPORTIONAL
    router_mapping: str | dict[str, Any] = field(default_factory=dict)
    learning_rate_mapping: str | dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.prompts = _parse_json(self.prompts)
        self.router_mapping = _parse_json(self.router_mapping) or {}
        self.learning_rate_mapping = _parse_json(self.learning_rate_mapping) or {}
        if isinstance(self.batch_sampler, str):
            self.batch_sampler = BatchSamplers(self.batch_sampler)
        if isinstance(self.multi_dataset_batch_sampler, str):
            self.multi_dataset_batch_sampler = MultiDatasetBatchSamplers(self.multi_dataset_batch_sampler)
        if isinstance(self.report_to, str):
            self.report_to = [self.report_to]
        checks = [
            (self.lr_scheduler_type in SCHEDULERS, f"lr_scheduler_type must be one of {SCHEDULERS}, "
                                                    f"got {self.lr_scheduler_type!r}"),
            (self.eval_strategy in STRATEGIES, f"eval_strategy must be one of {STRATEGIES}, got {self.eval_strategy!r}"),
            (self.save_strategy in STRATEGIES + ("best",), f"save_strategy must be one of {STRATEGIES + ('best',)}, "
                                                           f"got {self.save_strategy!r}"),
            (self.per_device_train_batch_size >= 1, "per_device_train_batch_size must be >= 1"),
            (self.per_device_eval_batch_size >= 1, "per_device_eval_batch_size must be >= 1"),
            (self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be >= 1"),
            (self.learning_rate >= 0, "learning_rate must be >= 0"),
            (0 <= self.warmup_ratio < 1, f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}"),
            (not (self.fp16 and self.bf16), "fp16 and bf16 cannot both be set"),
            (self.max_steps > 0 or self.num_train_epochs > 0, "set num_train_epochs > 0 or max_steps > 0"),
            (self.eval_strategy != "steps" or self.eval_steps is None or self.eval_steps > 0, "eval_steps must be > 0"),
            (self.dataloader_num_workers == 0, "dataloader_num_workers > 0 is not supported: batches are built in the "
                                               "main process (tokenization is already multi-threaded)"),
            (all(r in REPORT_TO for r in self.report_to), f"report_to must be among {REPORT_TO}; embedkit logs to "
                                                          f"the logger, a JSON-lines file and a tqdm bar"),
            (self.warmup_steps >= 0, "warmup_steps must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.load_best_model_at_end:
            if self.eval_strategy == "no":
                raise ValueError("load_best_model_at_end needs eval_strategy 'steps' or 'epoch'")
            if self.save_strategy not in (self.eval_strategy, "best"):
                raise ValueError(f"load_best_model_at_end needs save_strategy ({self.save_strategy!r}) to match "
                                 f"eval_strategy ({self.eval_strategy!r})")
            if self.save_strategy == "steps" and self.eval_steps and self.save_steps % self.eval_steps:
                raise ValueError(f"load_best_model_at_end needs save_steps ({self.save_steps}) to be a multiple of "
                                 f"eval_steps ({self.eval_steps})")
        if self.metric_for_best_model is None and (self.load_best_model_at_end or self.save_strategy == "best"):
            self.metric_for_best_model = "loss"
        if self.metric_for_best_model is not None and self.greater_is_better is None:
            self.greater_is_better = not self.metric_for_best_model.endswith("loss")
        if self.eval_strategy == "steps" and self.eval_steps is None:
            self.eval_steps = self.logging_steps

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, Enum):
                out[key] = value.value
        return out

    def non_default(self) -> dict[str, Any]:
        """Arguments that differ from their defaults (for the model card)."""
        defaults = type(self)()
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) != getattr(defaults, f.name)}


class CrossEncoderTrainingArguments(SentenceTransformerTrainingArguments):
    """Same arguments for :class:`CrossEncoderTrainer`."""


class SparseEncoderTrainingArguments(SentenceTransformerTrainingArguments):
    """Same arguments for :class:`SparseEncoderTrainer`."""
