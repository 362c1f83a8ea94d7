"""The training loop shared by SentenceTransformerTrainer, CrossEncoderTrainer and SparseEncoderTrainer.

One loop, readable top to bottom (:meth:`SentenceTransformerTrainer.train`): each optimizer step takes
``gradient_accumulation_steps`` micro-batches from the sampler, runs the loss under autocast, backpropagates
``loss / n_micro`` (so k micro-batches of b rows give exactly the mean-loss gradient of one batch of k*b rows for
a pointwise loss), unscales, checks the loss is finite, clips, steps AdamW and the LR schedule, then logs,
evaluates and saves on the configured strategies.

Distributed training (``torchrun``): the process group starts from the environment; the samplers give every rank
a disjoint, equal-sized slice of the same global batch. What trains -- all loss modules together, so the model and
trainable loss parameters such as SoftmaxLoss's classifier -- is wrapped once in ``DistributedDataParallel``.
Every micro-step but the last of an optimizer step runs under ``no_sync()``, so gradients are all-reduced (and
averaged over ranks) exactly once per optimizer step, whatever the accumulation. Since every rank's loss is a mean
over equally many local rows, the averaged gradient is the gradient of the mean over the global batch.
Cached (GradCache) losses replay several backward passes per step, which DDP's reducer does not allow; they run
unwrapped and the trainer averages their gradients over ranks with one explicit all-reduce of a flat buffer per
optimizer step (parameters are broadcast from rank 0 at the start, as DDP would). Gradient accumulation is *not* a
larger batch for in-batch-negative losses (each micro-batch sees only its own negatives); GradCache is the tool for
that, and ``gather_across_devices=True`` makes the negatives span all ranks.

Checkpoints hold the model folder plus optimizer, scheduler, scaler, RNG states and the sampler position, so a
resumed run continues bit for bit (on CPU) where it stopped.

What the loop calls lives next to it, one concern a module: ``trainer_setup`` (argument checks, losses),
``trainer_data`` (samplers, collation), ``trainer_optimizer``, ``trainer_checkpoints``, ``trainer_evaluation``,
``trainer_log`` and ``trainer_state`` (callback types). BaseTrainer's methods delegate to their functions, so a
subclass overrides the methods as before.
"""

from __future__ import annotations

import gc
import logging
import math
import random
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from embedkit import distributed as dist_utils
from embedkit.base import trainer_checkpoints, trainer_data, trainer_evaluation, trainer_log, trainer_setup
from embedkit.base.data_collator import Batch, DataCollator
from embedkit.base.sampler import ShardedBatchSampler
from embedkit.base.termination import TerminationRequest
from embedkit.base.trainer_api import TrainerAPI
from embedkit.base.trainer_data import _NamedRows as _NamedRows
from embedkit.base.trainer_optimizer import _Losses, build_optimizer
from embedkit.base.trainer_optimizer import _no_decay as _no_decay
from embedkit.base.trainer_state import EvalLoopOutput, TrainerControl, TrainerState, TrainOutput
from embedkit.base.trainer_state import TrainerCallback as TrainerCallback
from embedkit.base.training_args import (
    BaseTrainingArguments,
    SentenceTransformerTrainingArguments,
)
from embedkit.checkpoint import apply_training_state, remove_partial_checkpoints
from embedkit.data import LABEL_COLUMNS, as_datasets, is_column_dict

logger = logging.getLogger(__name__)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class BaseTrainer(TrainerAPI):
    """Train a model with one or more losses, sentence-transformers style (the loop of every model type).

    Args:
        model: the model to train (SentenceTransformer, CrossEncoder or SparseEncoder).
        args: training arguments (defaults: ``output_dir="trainer_output"``).
        train_dataset: a Dataset, dict of column lists, list of row dicts, ``datasets.Dataset``, or a dict of
            those (multi-dataset training).
        eval_dataset: same forms; its loss is reported as ``eval_loss``.
        loss: a loss module, a callable ``model -> loss``, or a dict ``{dataset_name: loss}``
            (default: CoSENTLoss).
        evaluator: an evaluator or a list of them; metrics are prefixed ``eval_``.
        callbacks: objects with any of the :class:`TrainerCallback` hooks.
        data_collator: replaces the default :class:`~embedkit.base.data_collator.DataCollator`; a collator returning
            sentence-transformers' batch dict (:class:`~embedkit.base.data_collator.BaseDataCollator`) works too.
        model_init: a function returning a fresh model, called here when ``model`` is None and again at the start
            of :meth:`train` (the losses then point at the new model).
        compute_metrics, processing_class, optimizer_cls_and_kwargs, preprocess_logits_for_metrics: accepted for
            sentence-transformers compatibility; they have no effect (use ``evaluator`` for metrics).

    ``datasets.IterableDataset`` inputs are read once, in order, into memory (their rows are not shuffled, and a
    batch sampler other than the default is ignored with a warning, as in sentence-transformers).

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.sentence_transformer.losses import CosineSimilarityLoss
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> data = {"sentence1": ["a cat", "a car"], "sentence2": ["a kitten", "a plane"], "score": [0.9, 0.3]}
        >>> args = SentenceTransformerTrainingArguments(output_dir="/tmp/ek-doc", max_steps=1, save_strategy="no",
        ...                                             disable_tqdm=True)
        >>> trainer = SentenceTransformerTrainer(model, args, train_dataset=data, loss=CosineSimilarityLoss(model))
        >>> output = trainer.train()  # prints the logs, as transformers does
        {'train_runtime': ...}
        >>> output.global_step
        1
    """

    args_class: type = BaseTrainingArguments
    tokenize_inputs = True

    def __init__(
        self,
        model: nn.Module | None = None,
        args: BaseTrainingArguments | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        loss: nn.Module | dict[str, nn.Module] | Callable[[nn.Module], nn.Module] | None = None,
        evaluator: Any = None,
        callbacks: Sequence[Any] | None = None,
        data_collator: Callable[..., Any] | None = None,
        optimizers: tuple[Any, Any] = (None, None),
        model_init: Callable[[], nn.Module] | None = None,
        compute_metrics: Any = None,
        processing_class: Any = None,
        optimizer_cls_and_kwargs: Any = None,
        preprocess_logits_for_metrics: Any = None,
    ) -> None:
        self.args = args if args is not None else self.args_class(output_dir="trainer_output")
        self.model_init = model_init
        if model is None:
            if model_init is None:
                raise RuntimeError(f"`{type(self).__name__}` requires either a `model` or `model_init` argument")
            model = model_init()
        elif model_init is not None:
            logger.warning(f"`{type(self).__name__}` requires either a `model` or `model_init` argument, but not "
                           "both. `model_init` will overwrite your model when calling the `train` method.")
        if compute_metrics is not None:
            logger.warning(f"`compute_metrics` is currently not compatible with the {type(self).__name__}. Please "
                           "use the `evaluator` argument instead for detailed evaluation metrics, or the "
                           "`eval_dataset` argument for the evaluation loss.")
        self.model = model
        trainer_setup.check_init_arguments(self, train_dataset, eval_dataset, loss, evaluator)
        self.validate_column_names(train_dataset, "train")
        self.validate_column_names(eval_dataset, "eval")
        self.train_datasets, self.multi_dataset = as_datasets(train_dataset, "train_dataset")
        self.eval_datasets, _ = as_datasets(eval_dataset, "eval_dataset")
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.evaluators = list(evaluator) if isinstance(evaluator, (list, tuple)) else (
            [evaluator] if evaluator is not None else [])
        self.evaluator = evaluator
        self.callbacks = list(callbacks or [])
        self.optimizer, self.scheduler = optimizers
        self.lr_scheduler: Any = None  # the running run's, as transformers names it (set by train(), for callbacks)
        self._running_optimizer: Any = None
        self.losses = self._resolve_losses(loss)
        self._custom_collator = data_collator is not None
        self.accum_loss_components: dict[str, dict[str, Tensor]] = {"train": {}, "eval": {}}
        self._eval_dataloaders: dict[str, Any] = {}
        self.data_collator = data_collator or self._default_collator()
        self.state = TrainerState()
        self.control = TrainerControl()
        self._termination = TerminationRequest()
        self._improved: tuple[int, float] | None = None
        self._validate()
        self._callback("on_init_end")
        card = getattr(self.model, "model_card_data", None)
        if callable(getattr(card, "trainer_init", None)):  # datasets, losses and examples for the model card
            try:
                card.trainer_init(self)
            except Exception as exc:  # the model card must never stop training
                logger.warning("could not gather the model card's training data (%s: %s)", type(exc).__name__, exc)

    # ------------------------------------------------ setup
    def default_loss(self) -> nn.Module:
        """The loss used when none is given (each model type's trainer sets its own)."""
        raise NotImplementedError(f"{type(self).__name__} has no default loss: pass `loss=`")

    def get_default_loss(self, model: nn.Module) -> nn.Module:
        """sentence-transformers' name for :meth:`default_loss`."""
        return self.default_loss()

    @property
    def loss(self) -> nn.Module | dict[str, nn.Module]:
        """The loss module, or ``{dataset_name: loss}`` for per-dataset losses."""
        if list(self.losses) == [""]:
            return self.losses[""]
        return dict(self.losses)

    @staticmethod
    def validate_column_names(dataset: Any, dataset_name: str | None = None) -> None:
        """Refuse the column names the trainer reserves (``return_loss``, ``dataset_name``)."""
        if dataset is None:
            return
        if isinstance(dataset, dict) and not is_column_dict(dataset):
            for name, sub in dataset.items():
                BaseTrainer.validate_column_names(sub, name)
            return
        columns = getattr(dataset, "column_names", None)
        if columns is None and isinstance(dataset, dict):
            columns = list(dataset)
        if columns is None and isinstance(dataset, (list, tuple)) and dataset and isinstance(dataset[0], dict):
            columns = list(dataset[0])
        if overlap := [c for c in columns or [] if c in ("return_loss", "dataset_name")]:
            where = f"{dataset_name} " if dataset_name else ""
            raise ValueError(f"The following column names are invalid in your {where}dataset: {overlap}. Avoid using "
                             "these column names, as they are reserved for internal use.")

    def call_model_init(self) -> nn.Module:
        """A fresh model from ``model_init``; every loss is pointed at it."""
        model = self.model_init()
        for name, loss in self.losses.items():
            self.losses[name] = self.override_model_in_loss(loss, model)
        self.model = model
        if not self._custom_collator:
            self.data_collator = self._default_collator()
        return model

    def override_model_in_loss(self, loss: nn.Module, model: nn.Module) -> nn.Module:
        """Replace the model a loss (or a loss inside it) holds as its ``model`` child by ``model``.

        ``model`` may be a wrapper (DDP, ``torch.compile``): the methods losses call on their model during
        ``forward`` (``preprocess``, ``get_embedding_dimension``) are bound onto it from the model it replaces.
        """
        return trainer_setup.override_model_in_loss(self, loss, model)

    def _default_collator(self) -> DataCollator:
        preprocess = self.model.preprocess if self.tokenize_inputs else None
        return DataCollator(preprocess, LABEL_COLUMNS, self.args.router_mapping, self.args.prompts)

    def _resolve_losses(self, loss: Any) -> dict[str, nn.Module]:
        return trainer_setup.resolve_losses(self, loss)

    def _validate(self) -> None:
        trainer_setup.validate_setup(self)

    def _check_datasets_against_losses(self) -> None:
        trainer_setup.check_datasets_against_losses(self)

    # ------------------------------------------------ data (embedkit.base.trainer_data)
    def _offsets(self, datasets: dict[str, Any]) -> list[int]:
        return trainer_data.dataset_offsets(datasets)

    def get_batch_sampler(self, dataset: Any, batch_size: int, drop_last: bool,
                          valid_label_columns: list[str] | None = None, generator: torch.Generator | None = None,
                          seed: int = 0) -> Any:
        """The batch sampler ``args.batch_sampler`` names for one dataset (override for a custom one).

        A :class:`~embedkit.base.sampler.DefaultBatchSampler` subclass or a function is called with
        ``(dataset, batch_size=, drop_last=, valid_label_columns=, generator=, seed=)``; the enum values map to the
        embedkit samplers. A streamed (``IterableDataset``) input keeps its order.
        """
        return trainer_data.get_batch_sampler(self, dataset, batch_size, drop_last, valid_label_columns, generator,
                                              seed)

    def get_multi_dataset_batch_sampler(self, dataset: Any, batch_samplers: list[Any],
                                        generator: torch.Generator | None = None, seed: int | None = 0) -> Any:
        """The sampler ``args.multi_dataset_batch_sampler`` names over a ``ConcatDataset`` of the datasets."""
        return trainer_data.get_multi_dataset_batch_sampler(self, dataset, batch_samplers, generator, seed)

    def _batch_sampler(self, datasets: dict[str, Any], per_device: int, rank: int, world: int) -> ShardedBatchSampler:
        return trainer_data.sharded_batch_sampler(self, datasets, per_device, rank, world)

    def _train_sampler(self, rank: int, world: int) -> ShardedBatchSampler:
        return self._batch_sampler(self.train_datasets, self.args.per_device_train_batch_size, rank, world)

    def _collate(self, indices: list[int], datasets: dict[str, Any], multi: bool | None = None) -> Batch:
        return trainer_data.collate_indices(self, indices, datasets, multi)

    def _label_column(self, columns: list[str]) -> list[str]:
        return trainer_data.label_column(self, columns)

    def _collate_rows(self, rows: list[dict[str, Any]], name: str | None) -> Batch:
        return trainer_data.collate_rows(self, rows, name)

    def _build_dataloader(self, datasets: dict[str, Any], multi: bool, per_device: int
                          ) -> torch.utils.data.DataLoader:
        return trainer_data.build_dataloader(self, datasets, multi, per_device)

    def _collate_named(self, rows: list[dict[str, Any]]) -> Batch:
        return trainer_data.collate_named(self, rows)

    # ------------------------------------------------ optimisation
    def _build_optimizer(self, module: nn.Module) -> torch.optim.Optimizer:
        return build_optimizer(self.args, module)

    def _autocast(self, device: torch.device) -> Any:
        if self.args.bf16:
            return torch.autocast(device.type, dtype=torch.bfloat16)
        if self.args.fp16 and device.type == "cuda":  # elsewhere fp16 trains in float32, as accelerate does
            return torch.autocast(device.type, dtype=torch.float16)
        return nullcontext()

    def compute_loss(self, runner: nn.Module, batch: Batch, device: torch.device, loss_name: str | None = None
                     ) -> tuple[Tensor, dict[str, Tensor]]:
        """The batch's loss (a dict of components is summed; components are returned for logging)."""
        features = trainer_data.to_device(batch.features, device)
        labels = trainer_data.to_device(batch.labels, device)
        with self._autocast(device):
            # a CrossEncoder batch carries its prompt / task (CrossEncoderDataCollator); passed only when set
            extra = {key: getattr(batch, key) for key in ("prompt", "task") if getattr(batch, key, None) is not None}
            out = runner(loss_name if loss_name is not None else batch.dataset_name or "", features, labels, **extra)
        if isinstance(out, dict):
            return sum(out.values()), {k: v.detach() for k, v in out.items()}
        return out, {}

    # ------------------------------------------------ the loop
    def train(self, resume_from_checkpoint: str | bool | None = None) -> TrainOutput:
        """Run training (``resume_from_checkpoint``: True for the latest checkpoint in output_dir, or a path)."""
        args = self.args
        owns_group = dist_utils.init_from_env(args.ddp_timeout, args.ddp_backend)
        self._termination = TerminationRequest()  # SIGTERM: save at the step's end, stop, then terminate
        try:
            with self._termination:
                output = self._train(resume_from_checkpoint if resume_from_checkpoint is not None
                                     else args.resume_from_checkpoint)
            if owns_group:
                dist_utils.barrier()
        except BaseException as exc:
            if owns_group and exc.__traceback__ is not None:
                # The failed loop's frames still hold the DDP wrapper, whose reducer points at the process group;
                # freeing it only at interpreter exit, after the group is gone, aborts the process (SIGABRT).
                traceback.clear_frames(exc.__traceback__.tb_next)
            if (isinstance(exc, RuntimeError) and dist_utils.get_world_size() > 1
                    and type(exc).__module__.startswith(("torch", "builtins"))):
                raise RuntimeError(
                    f"rank {dist_utils.get_rank()}: distributed training stopped: {exc}. If another rank failed "
                    f"first, its log has the cause; collectives give up after ddp_timeout={args.ddp_timeout}s"
                ) from exc
            raise
        finally:
            if dist_utils.get_world_size() > 1:
                # DDP's reducer (and the autograd graphs of gathered tensors) sit in reference cycles; collected
                # only at interpreter exit, after the group is destroyed, they abort the process (gloo). Collect them
                # while the group still exists, also when the caller owns the group and destroys it after train().
                gc.collect()
            if owns_group:  # no barrier on failure: a dead rank would make it wait for the full timeout
                torch.distributed.destroy_process_group()
            self._termination.deliver()  # a SIGTERM received during training ends the process now
        return output

    def _train(self, resume: str | bool | None) -> TrainOutput:
        if not self.train_datasets:
            raise ValueError(f"Training requires specifying a train_dataset to the {type(self).__name__}.")
        if self.model_init is not None:  # as transformers: every run starts from a fresh model
            self.call_model_init()
        args, model = self.args, self.model
        rank, world = dist_utils.get_rank(), dist_utils.get_world_size()
        main = rank == 0
        if args.use_cpu:
            device = torch.device("cpu")
            model.to(device)
        elif torch.cuda.is_available() and world > 1:
            device = torch.device(f"cuda:{torch.cuda.current_device()}")
        else:
            device = model.device
        if args.fp16 and device.type != "cuda":
            logger.warning(f"fp16=True: float16 mixed precision is applied on CUDA devices only; training on "
                           f"{device.type} runs in float32, as in transformers (bf16=True is mixed precision on CPU)")
        self._check_datasets_against_losses()
        trainer_setup.apply_run_arguments(model, args)  # full_determinism, tf32, activation checkpointing
        set_seed(args.seed)
        losses = _Losses(self.losses).to(device)
        runner: nn.Module = losses
        # GradCache replays several backward passes per step, which DDP's reducer does not allow: cached losses
        # run unwrapped, and their gradients are averaged over ranks with one explicit all-reduce per step.
        manual_sync = world > 1 and any(getattr(l, "uses_gradient_cache", False) for l in self.losses.values())
        if manual_sync:
            dist_utils.broadcast_parameters(losses)
        elif world > 1:
            runner = trainer_setup.data_parallel(losses, args, device)
        ddp = runner is not losses
        if args.torch_compile:  # the loss modules compiled, not the model: encode stays eager after training
            runner = torch.compile(runner, backend=args.torch_compile_backend or "inductor",
                                   mode=args.torch_compile_mode)
        sampler = self._train_sampler(rank, world)
        accum = args.gradient_accumulation_steps
        steps_per_epoch = max(1, math.ceil(len(sampler) / accum))
        max_steps = args.max_steps if args.max_steps > 0 else math.ceil(args.num_train_epochs * steps_per_epoch)
        optimizer, scheduler = trainer_setup.optimizer_and_scheduler(self, losses, max_steps)
        self.lr_scheduler, self._running_optimizer = scheduler, optimizer
        scaler = torch.amp.GradScaler("cuda") if args.fp16 and device.type == "cuda" else None
        state = self.state = TrainerState(max_steps=max_steps)
        self._layout = {"world_size": world, "per_device_train_batch_size": args.per_device_train_batch_size,
                        "gradient_accumulation_steps": accum, "batches_per_epoch": len(sampler)}
        resumed = self._resume(resume, losses, rank)
        if resumed is not None:
            checkpoint, files = resumed
            saved = apply_training_state(files, optimizer, scheduler, scaler)
            state = self.state = TrainerState(**{**saved["state"], "max_steps": max_steps})
            if args.ignore_data_skip:  # the interrupted epoch starts over instead of skipping its trained batches
                state.batch_in_epoch = 0
            if state.global_step > max_steps:
                raise ValueError(f"{checkpoint} is at step {state.global_step}, beyond this run's max_steps "
                                 f"{max_steps}: nothing would be trained; raise max_steps / num_train_epochs or "
                                 "start a new run")
            if state.global_step == max_steps:
                logger.warning("%s is at the run's last step %d: there is nothing left to train", checkpoint,
                               max_steps)
            logger.info("resumed from %s at step %d", checkpoint, state.global_step)
        output_dir = Path(args.output_dir or "trainer_output")
        if main or (args.save_on_each_node and dist_utils.is_local_main_process()):
            remove_partial_checkpoints(output_dir)
        params = [p for p in losses.parameters() if p.requires_grad]
        clipped = [p for p in model.parameters() if p.requires_grad]  # as transformers: not a loss's own weights
        self.control._new_training()
        self._callback("on_train_begin")
        bar = None
        if main and not args.disable_tqdm:
            from tqdm.auto import tqdm

            bar = tqdm(total=max_steps, initial=state.global_step, desc="Training")
        if args.eval_on_start and state.global_step == 0:
            self._evaluate_and_track(output_dir)
        model.train()
        started, total_loss, first_step = time.perf_counter(), 0.0, state.global_step
        window: dict[str, float] = {}
        window_steps, saved_step = 0, -1
        batches_epoch, batches = -1, []
        while state.global_step < max_steps and not self.control.should_training_stop:
            if batches_epoch != state.epoch_index:  # this rank's micro-batches of the epoch, same on every call
                sampler.set_epoch(state.epoch_index)
                # len(sampler) batches as in transformers (a no-duplicates pass may yield more: dropped there too)
                batches_epoch, batches = state.epoch_index, list(islice(sampler, len(sampler)))
                self.control._new_epoch()
                self._callback("on_epoch_begin")
            if state.batch_in_epoch >= len(batches):
                state.epoch_index, state.batch_in_epoch = state.epoch_index + 1, 0
                continue
            group = batches[state.batch_in_epoch : state.batch_in_epoch + accum]
            self.control._new_step()
            self._callback("on_step_begin")

            # -- one optimizer step over len(group) micro-batches; gradients all-reduced once, on the last one
            step_loss = torch.zeros((), device=device)
            parts_sum: dict[str, Tensor] = {}
            for i, indices in enumerate(group):
                batch = self._collate(indices, self.train_datasets)
                sync = runner.no_sync() if (ddp and i < len(group) - 1) else nullcontext()
                with sync:
                    loss, parts = self.compute_loss(runner, batch, device)
                    scaled = loss / len(group)
                    (scaler.scale(scaled) if scaler is not None else scaled).backward()
                step_loss += scaled.detach().float()
                for k, v in parts.items():
                    parts_sum[k] = parts_sum.get(k, 0) + v.float() / len(group)
                if i < len(group) - 1:
                    self._callback("on_substep_end")
            lr_used = optimizer.param_groups[0]["lr"]
            if manual_sync:
                dist_utils.all_reduce_gradients(params)
            if scaler is not None:
                scaler.unscale_(optimizer)
            if not bool(torch.isfinite(step_loss)) and scaler is None:
                if not args.skip_nonfinite_loss:
                    raise FloatingPointError(
                        f"non-finite loss ({step_loss.item()}) at step {state.global_step + 1} (epoch "
                        f"{state.epoch_index}); the weights were not updated. Lower the learning rate, check the "
                        f"data, or set skip_nonfinite_loss=True to skip such steps")
                logger.warning("skipping step %d: non-finite loss %s", state.global_step + 1, step_loss.item())
                optimizer.zero_grad(set_to_none=True)
                grad_norm = torch.tensor(float("nan"))
            else:
                if args.max_grad_norm and args.max_grad_norm > 0:
                    grad_norm = torch.nn.utils.clip_grad_norm_(clipped, args.max_grad_norm)
                else:
                    grad_norm = torch.nn.utils.get_total_norm([p.grad for p in clipped if p.grad is not None])
                self._callback("on_pre_optimizer_step")
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                self._callback("on_optimizer_step")
                optimizer.zero_grad(set_to_none=True)
                if not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):  # steps after evaluations
                    scheduler.step()
            state.batch_in_epoch += len(group)
            state.global_step += 1
            state.epoch = state.epoch_index + state.batch_in_epoch / max(1, len(batches))
            if bar is not None:
                bar.update(1)
            window["loss"] = window.get("loss", 0.0) + float(step_loss)
            total_loss += float(step_loss) if math.isfinite(float(step_loss)) else 0.0
            if parts_sum:
                self.track_loss_components(parts_sum)
            window_steps += 1

            # -- logging, evaluation, saving, in transformers' order: what the strategies ask at this step, which
            # on_step_end callbacks may change, acted on; at an epoch's end the same with the epoch strategies
            control, last = self.control, state.global_step >= max_steps
            control.should_log |= ((args.logging_strategy == "steps" and self._due(args.logging_steps, "steps"))
                                   or (args.logging_first_step and state.global_step == 1))
            control.should_evaluate |= (args.eval_strategy == "steps" and (self._due(args.eval_steps, "steps") or last)
                                        and state.global_step >= args.eval_delay)  # the last step too (transformers 5)
            control.should_save |= args.save_strategy == "steps" and (self._due(args.save_steps, "steps") or last)
            control.should_training_stop |= last
            self._callback("on_step_end")
            if args.torch_empty_cache_steps and state.global_step % args.torch_empty_cache_steps == 0:
                trainer_setup.empty_device_cache()
            epoch_end = control.should_epoch_stop or state.batch_in_epoch >= len(batches)
            if epoch_end:
                state.epoch_index, state.batch_in_epoch = state.epoch_index + 1, 0
            for phase in ("step", "epoch"):
                if phase == "epoch":
                    if not (epoch_end or control.should_training_stop):
                        break
                    control.should_log |= args.logging_strategy == "epoch"
                    control.should_evaluate |= args.eval_strategy == "epoch" and state.epoch >= args.eval_delay
                    control.should_save |= args.save_strategy == "epoch"
                    self._callback("on_epoch_end")
                if control.should_log and window_steps:
                    entry = {k: dist_utils.mean_over_ranks(v / window_steps) for k, v in window.items()}
                    entry.update(trainer_log.drain_loss_components(self, "train"))
                    entry.update(grad_norm=float(grad_norm), learning_rate=lr_used, epoch=round(state.epoch, 4),
                                 step=state.global_step)
                    self._log(entry, output_dir, bar)
                    window, window_steps = {}, 0
                control.should_log = False
                evaluated = control.should_evaluate
                if evaluated:
                    self._evaluate_and_track(output_dir)
                    control.should_evaluate = False
                if control.should_save or (args.save_strategy == "best" and evaluated and self._improved is not None):
                    self._save_checkpoint(output_dir, losses, optimizer, scheduler, scaler)
                    saved_step, control.should_save = state.global_step, False
            if self._termination.requested():  # SIGTERM (on any rank): keep this step's progress, then stop
                if args.save_strategy == "no":
                    logger.warning("stopping at step %d on SIGTERM; save_strategy='no', so no checkpoint is saved",
                                   state.global_step)
                elif saved_step != state.global_step:
                    self._save_checkpoint(output_dir, losses, optimizer, scheduler, scaler)
                    logger.warning("stopping on SIGTERM: saved %s", output_dir / f"checkpoint-{state.global_step}")
                break
        if bar is not None:
            bar.close()
        if args.load_best_model_at_end and self._termination.received is None:
            trainer_checkpoints.load_best_at_end(self, losses)
        metrics = trainer_log.train_summary(self, started, total_loss, state.global_step - first_step, world)
        train_loss = metrics["train_loss"]
        self._log({**metrics, "epoch": round(state.epoch, 4), "step": state.global_step}, output_dir, None)
        metrics["epoch"] = round(state.epoch, 4)
        self._callback("on_train_end")
        self._record_for_model_card()
        return TrainOutput(state.global_step, train_loss, metrics)

    # ------------------------------------------------ helpers of the loop
    def _due(self, every: int | float | None, _: str) -> bool:
        if not every:
            return False
        if isinstance(every, float) and every < 1:  # a ratio of the total steps, as in transformers
            every = max(1, math.ceil(every * self.state.max_steps))
        return self.state.global_step % int(every) == 0

    def _callback(self, event: str, **kwargs: Any) -> None:
        for callback in self.callbacks:
            hook = getattr(callback, event, None)
            if hook is not None:
                hook(self.args, self.state, self.control, **{**trainer_log.callback_kwargs(self), **kwargs})

    def _log(self, entry: dict[str, Any], output_dir: Path, bar: Any) -> None:
        trainer_log.log_entry(self, entry, output_dir, bar)

    def track_loss_components(self, loss: dict[str, Tensor]) -> None:
        """Add one step's loss components (detached, so no autograd graph is kept) to the running sums logged at
        the next logging step; with ``args.logging_nan_inf_filter`` a NaN/inf value counts as the mean so far."""
        trainer_log.track_loss_components(self, loss)

    def _record_for_model_card(self) -> None:
        """Attach what a model card reports (datasets, losses, arguments, metrics, log) to the model."""
        trainer_log.record_for_model_card(self)

    # ---------------------------------------------------------- checkpoints (embedkit.base.trainer_checkpoints)
    def _resume(self, resume: str | bool | None, losses: nn.Module, rank: int) -> tuple[Path, dict] | None:
        return trainer_checkpoints.load_checkpoint_to_resume(self, resume, losses, rank)

    def _check_layout(self, checkpoint: Path, saved: dict[str, Any]) -> None:
        trainer_checkpoints.check_layout(self, checkpoint, saved)

    def _loss_only_params(self, losses: nn.Module) -> dict[str, Tensor]:
        return trainer_checkpoints.loss_only_params(self.model, losses)

    def _load_weights(self, checkpoint: Path, losses: nn.Module) -> None:
        trainer_checkpoints.load_weights(self, checkpoint, losses)

    def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
        """Save the model (the full model folder) to ``output_dir`` (default ``args.output_dir``), with the
        training arguments as ``training_args.json``; ``state_dict`` is accepted for compatibility."""
        trainer_checkpoints.save_model_folder(self, output_dir)

    def _load_from_checkpoint(self, checkpoint_path: str) -> None:
        """Load the model weights of a checkpoint folder into the model being trained (and the trainable loss
        parameters, when the checkpoint has them)."""
        self._load_weights(Path(checkpoint_path), _Losses(self.losses))

    def _save_checkpoint(self, output_dir: Path, losses: nn.Module, optimizer: Any, scheduler: Any, scaler: Any
                         ) -> None:
        trainer_checkpoints.save_trainer_checkpoint(self, output_dir, losses, optimizer, scheduler, scaler)

    # ---------------------------------------------------------- evaluation (embedkit.base.trainer_evaluation)
    def get_train_dataloader(self) -> torch.utils.data.DataLoader:
        """A ``DataLoader`` of collated training batches, drawn by the configured batch sampler
        (``per_device_train_batch_size`` rows per rank), as transformers gives it; the loop draws the same batches."""
        if not self.train_datasets:
            raise ValueError("Trainer: training requires a train_dataset.")
        return self._build_dataloader(self.train_datasets, list(self.train_datasets) != [""],
                                      self.args.per_device_train_batch_size)

    def get_eval_dataloader(self, eval_dataset: Any = None) -> torch.utils.data.DataLoader:
        """A ``DataLoader`` of collated eval batches: of ``eval_dataset`` given as a dataset, of the eval dataset
        with that name when a string, else of the trainer's eval dataset(s).

        Batches come from the configured batch sampler (``per_device_eval_batch_size`` rows per rank), worker
        settings from the ``dataloader_*`` arguments. With ``dataloader_persistent_workers`` the loaders of the
        trainer's own eval datasets are built once and reused (per dataset name), so repeated evaluations do not
        leave worker processes behind.
        """
        return trainer_evaluation.get_eval_dataloader(self, eval_dataset)

    def evaluation_loop(self, dataloader: Any, description: str = "Evaluation",
                        prediction_loss_only: bool | None = None, ignore_keys: list[str] | None = None,
                        metric_key_prefix: str = "eval") -> EvalLoopOutput:
        """The eval loss over ``dataloader``: the mean of its batch losses, each batch counting once (all ranks
        together), as ``{metric_key_prefix}_loss``; a loss's components are tracked for the log."""
        return trainer_evaluation.evaluation_loop(self, dataloader, metric_key_prefix)

    def evaluate(self, eval_dataset: Any = None, ignore_keys: list[str] | None = None,
                 metric_key_prefix: str = "eval") -> dict[str, float]:
        """Eval loss and evaluator metrics, all prefixed ``metric_key_prefix`` (``eval_``), with the runtime keys
        transformers adds (``eval_runtime``, ``eval_samples_per_second``, ``eval_steps_per_second``); logged (in
        ``state.log_history`` and through ``on_log``) and passed to ``on_evaluate``.

        The eval loss is the mean of the batch losses over the eval batches (each batch once), drawn with the configured
        batch sampler (so in-batch-negative losses see the batches they would see in training) and
        ``per_device_eval_batch_size`` rows per rank; with several eval datasets, one ``eval_{name}_loss`` each
        (see :meth:`get_eval_dataloader` and :meth:`evaluation_loop`).
        """
        return trainer_evaluation.evaluate(self, eval_dataset, metric_key_prefix)

    def _evaluate_and_track(self, output_dir: Path) -> dict[str, float]:
        return trainer_evaluation.evaluate_and_track(self, output_dir)


class SentenceTransformerTrainer(BaseTrainer):
    """The loop for SentenceTransformer models (default loss: CoSENTLoss); see :class:`BaseTrainer`."""

    args_class: type = SentenceTransformerTrainingArguments

    def default_loss(self) -> nn.Module:
        from embedkit.sentence_transformer.losses import CoSENTLoss

        return CoSENTLoss(self.model)


def __getattr__(name: str) -> Any:
    """``CrossEncoderTrainer`` / ``SparseEncoderTrainer`` live with their model types (read here for old imports)."""
    if name == "CrossEncoderTrainer":
        from embedkit.cross_encoder.trainer import CrossEncoderTrainer

        return CrossEncoderTrainer
    if name == "SparseEncoderTrainer":
        from embedkit.sparse_encoder.trainer import SparseEncoderTrainer

        return SparseEncoderTrainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
