"""What a trainer checks and resolves when it is built and before its first step: the constructor's arguments
(streamed datasets without features, an eval strategy without eval data, a loss dict against the dataset dicts),
the losses (``loss=`` as a module, a callable ``model -> loss`` or a dict of them, pointed at a new model by
``model_init``), the model and datasets (none empty, no quantized model, a router mapping for a Router), and each
dataset's columns against its loss.

The functions take the trainer and call its overridable methods (``default_loss``, ``override_model_in_loss``)
through it, so a subclass's override takes effect.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from torch import nn

from embedkit import distributed as dist_utils
from embedkit.base.losses.input_columns import check_columns_for_loss
from embedkit.data import LABEL_COLUMNS, featureless_stream_hint, is_column_dict, is_stream, row_column_names

if TYPE_CHECKING:
    from embedkit.base.trainer import BaseTrainer


def check_init_arguments(trainer: BaseTrainer, train_dataset: Any, eval_dataset: Any, loss: Any, evaluator: Any
                         ) -> None:
    """Refuse datasets, loss and evaluator given to the constructor that cannot train together."""
    for kind, dataset in (("train", train_dataset), ("eval", eval_dataset)):
        if is_stream(dataset) and getattr(dataset, "column_names", None) is None:
            raise ValueError(featureless_stream_hint(dataset, kind))
    if eval_dataset is None and evaluator is None and trainer.args.eval_strategy != "no":
        raise ValueError(
            f"You have set `args.eval_strategy` to {trainer.args.eval_strategy}, but you didn't provide an "
            f"`eval_dataset` or an `evaluator`. Either provide an `eval_dataset` or an `evaluator` to "
            f"`{type(trainer).__name__}`, or set `args.eval_strategy='no'` to skip evaluation.")
    if isinstance(loss, dict):
        for kind, dataset in (("train", train_dataset), ("eval", eval_dataset)):
            if dataset is None:
                continue
            if not isinstance(dataset, dict) or is_column_dict(dataset):
                raise ValueError(f"If the provided `loss` is a dict, then the `{kind}_dataset` must be a "
                                 f"`DatasetDict`.")
            if missing := set(dataset) - set(loss):
                raise ValueError(
                    f"If the provided `loss` is a dict, then all keys from the `{kind}_dataset` dictionary must "
                    f"occur in `loss` also. Currently, {sorted(missing)} occur{'s' if len(missing) == 1 else ''} "
                    f"in `{kind}_dataset` but not in `loss`.")
    if isinstance(train_dataset, dict) and any(is_stream(d) for d in train_dataset.values()):
        # (a dict of streamed eval datasets is fine: each is evaluated on its own)
        raise ValueError("Sentence Transformers is not compatible with a DatasetDict containing an "
                         "IterableDataset.")


def resolve_losses(trainer: BaseTrainer, loss: Any) -> dict[str, nn.Module]:
    """``{train dataset name: loss module}`` (one ``""`` entry for a single dataset) from the ``loss`` argument."""
    names = list(trainer.train_datasets) or [""]

    def build(value: Any) -> nn.Module:
        if value is None:
            return trainer.default_loss()
        if isinstance(value, nn.Module):
            return value
        if callable(value):
            return value(trainer.model)
        raise TypeError(f"loss must be a module, a callable model -> module, or a dict of them; got {value!r}")

    if isinstance(loss, dict) and not trainer.train_datasets:
        return {str(name): build(value) for name, value in loss.items()}
    if isinstance(loss, dict):
        missing = set(names) - set(loss)
        if missing or not trainer.multi_dataset:
            raise ValueError(f"a dict of losses needs a dict of train datasets with the same keys; datasets "
                             f"{sorted(names)}, losses {sorted(loss)}")
        return {name: build(loss[name]) for name in names}
    built = build(loss)
    return {name: built for name in names}


def override_model_in_loss(trainer: BaseTrainer, loss: nn.Module, model: nn.Module) -> nn.Module:
    """Point ``loss`` (and the losses inside it) at ``model`` (:meth:`BaseTrainer.override_model_in_loss`)."""
    from embedkit.base.model import BaseModel

    for name, child in loss.named_children():
        if name == "model" and isinstance(child, BaseModel):
            for attribute in ("preprocess", "get_embedding_dimension"):
                if hasattr(child, attribute) and not hasattr(model, attribute):
                    setattr(model, attribute, getattr(child, attribute))
            loss.model = model
        elif isinstance(child, nn.Module):
            setattr(loss, name, trainer.override_model_in_loss(child, model))
    return loss


def validate_setup(trainer: BaseTrainer) -> None:
    """Refuse an eval strategy without eval data, an empty dataset or one without input columns, a model quantized
    for inference, and a model with a Router but no ``router_mapping``."""
    args = trainer.args
    if args.eval_strategy != "no" and not trainer.eval_datasets and not trainer.evaluators:
        raise ValueError(f"eval_strategy={args.eval_strategy!r} needs an eval_dataset or an evaluator")
    datasets = {**trainer.train_datasets, **{f"eval:{k}": v for k, v in trainer.eval_datasets.items()}}
    for name, dataset in datasets.items():
        if len(dataset) == 0:
            raise ValueError(f"dataset {name or 'train'!r} is empty")
        columns = row_column_names(dataset)
        inputs = [c for c in columns if c not in LABEL_COLUMNS and c != "dataset_name"]
        if not inputs:
            raise ValueError(f"dataset {name or 'train'!r} has no input columns, only {columns}")
    if getattr(trainer.model, "quantized", None):
        raise ValueError("the model is quantized for inference (model.quantize); train the fp32 model instead")
    has_router = any(type(m).__name__ == "Router" for m in trainer.model.modules())
    if has_router and not args.router_mapping:
        raise ValueError(
            "You are using a Router module in your model, but you did not provide a `router_mapping` in the "
            "training arguments. This means that the Router module will not be able to route the inputs to the "
            "correct submodules. Please provide a `router_mapping` that maps column names to routes, e.g. "
            "{'column_one': 'query', 'column_two': 'document', 'column_three': 'document'}.")


def check_datasets_against_losses(trainer: BaseTrainer) -> None:
    """Refuse, before the first step, a dataset whose columns do not fit its loss (too few or too many input
    columns, no label column for a loss that needs one); see :mod:`embedkit.base.losses.input_columns`."""
    if trainer._custom_collator:  # a custom collator may build other columns than the dataset's
        return
    labels = list(getattr(trainer.data_collator, "valid_label_columns", LABEL_COLUMNS))
    for kind, datasets in (("train", trainer.train_datasets), ("eval", trainer.eval_datasets)):
        for name, dataset in datasets.items():
            loss = trainer.losses[name] if name in trainer.losses else next(iter(trainer.losses.values()))
            columns = [c for c in row_column_names(dataset) if c != "dataset_name"]
            check_columns_for_loss(loss, columns, labels, name or kind)


def apply_run_arguments(model: nn.Module, args: Any) -> None:
    """Switches the training arguments set before the first step, as transformers' Trainer does: the log level,
    ``full_determinism`` (deterministic algorithms only), ``tf32`` and activation checkpointing."""
    import os

    import torch

    level = args.log_level if dist_utils.is_main_process() else args.log_level_replica
    if level != "passive":
        logging.getLogger("embedkit").setLevel(level.upper())
    if args.full_determinism:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":16:8"  # deterministic cuBLAS needs a fixed workspace
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    if args.tf32 is not None:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(args.tf32)
    if args.activation_checkpointing:
        checkpoint_kwargs = dict(args.activation_checkpointing_kwargs or {})
        every_n_layers = checkpoint_kwargs.pop("every_n_layers", 1)
        offload = checkpoint_kwargs.pop("offload", False)
        model.gradient_checkpointing_enable(checkpoint_kwargs or None, every_n_layers=every_n_layers, offload=offload)


def data_parallel(losses: nn.Module, args: Any, device: Any) -> nn.Module:
    """``losses`` wrapped in DistributedDataParallel with the ``ddp_*`` training arguments (unused parameters are
    looked for unless ``ddp_find_unused_parameters=False``: a pooler or a route that a loss does not use is common)."""
    if args.activation_checkpointing and (args.activation_checkpointing_kwargs or {}).get("use_reentrant"):
        raise ValueError("activation checkpointing with use_reentrant=True cannot run under DDP: the layers' "
                         "backward passes would mark their parameters ready twice. Leave use_reentrant unset "
                         "(False), which gives the same gradients.")
    options: dict[str, Any] = {"find_unused_parameters": args.ddp_find_unused_parameters is not False}
    if args.ddp_broadcast_buffers is not None:
        options["broadcast_buffers"] = args.ddp_broadcast_buffers
    if args.ddp_bucket_cap_mb is not None:
        options["bucket_cap_mb"] = args.ddp_bucket_cap_mb
    if args.ddp_static_graph is not None:
        options["static_graph"] = args.ddp_static_graph
    return nn.parallel.DistributedDataParallel(
        losses, device_ids=[device.index] if device.type == "cuda" else None, **options)


def empty_device_cache() -> None:
    """Give the CUDA caching allocator's free blocks back (``torch_empty_cache_steps``); nothing to do on a CPU."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def optimizer_and_scheduler(trainer: BaseTrainer, losses: nn.Module, max_steps: int) -> tuple[Any, Any]:
    """This run's optimizer and LR scheduler: the ones given (``optimizers=``), else those a subclass's
    ``create_optimizer()`` / ``create_scheduler(num_training_steps, optimizer)`` make (transformers' hooks), else
    the training arguments' (a fresh optimizer over ``losses`` every run)."""
    from embedkit.base.trainer_api import TrainerAPI
    from embedkit.base.trainer_optimizer import build_scheduler_from_args

    optimizer = trainer.optimizer
    if optimizer is None:
        overridden = type(trainer).create_optimizer is not TrainerAPI.create_optimizer
        optimizer = trainer.create_optimizer() if overridden else trainer._build_optimizer(losses)
    scheduler = trainer.scheduler
    if scheduler is None and type(trainer).create_scheduler is not TrainerAPI.create_scheduler:
        scheduler = trainer.create_scheduler(max_steps, optimizer)
    if scheduler is None:
        scheduler = build_scheduler_from_args(trainer.args, optimizer, max_steps)
    return optimizer, scheduler
