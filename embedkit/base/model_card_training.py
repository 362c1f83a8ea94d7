"""What the trainer records on a model card and how the card reports it: the datasets, losses and usage examples
when a trainer is created, the hyperparameters when training begins, the training log, evaluation results (tables
and the Hub ``model-index``), training time and emissions, and the model's ``training_summary`` as a fallback.

The functions take the card (:class:`~embedkit.base.model_card.BaseModelCardData`) as first argument; its methods
(``trainer_train_begin``, ``format_eval_metrics``, ...) delegate here, and what a subclass may override is called
back through the card.
"""

from __future__ import annotations

import json
import time
from copy import copy
from textwrap import indent
from typing import TYPE_CHECKING, Any

from embedkit.base.model_card_format import (
    _to_float,
    _to_python,
    format_duration,
    format_log,
    fullname,
    make_markdown_table,
)

if TYPE_CHECKING:
    from embedkit.base.model_card import BaseModelCardData

_IGNORED_ARGUMENTS = {
    "output_dir", "logging_dir", "logging_strategy", "logging_first_step", "logging_steps", "evaluation_strategy",
    "eval_strategy", "eval_steps", "eval_delay", "save_strategy", "save_steps", "save_total_limit",
    "metric_for_best_model", "greater_is_better", "report_to", "samples_per_label", "show_progress_bar", "do_train",
    "do_eval", "do_test", "run_name", "hub_token", "push_to_hub_token",
}


def get_losses(loss: Any) -> list[Any]:
    """The losses of a trainer, including the ones wrapped inside others (``loss.loss``, SPLADE regularizers)."""
    losses = list(loss.values()) if isinstance(loss, dict) else [loss]
    idx = 0
    while idx < len(losses):
        current = losses[idx]
        for attribute in ("loss", "document_regularizer", "query_regularizer"):
            inner = getattr(current, attribute, None)
            if inner is not None and not isinstance(inner, (str, int, float)) and inner not in losses:
                losses.append(inner)
        idx += 1
    return losses


def _trainer_datasets(trainer: Any, kind: str) -> Any:
    """The trainer's train/eval dataset as the user gave it: one dataset, or a dict of named datasets."""
    datasets = getattr(trainer, f"{kind}_datasets", None)
    if isinstance(datasets, dict):
        if not datasets:
            return None
        if list(datasets) == [""] or (len(datasets) == 1 and not getattr(trainer, "multi_dataset", True)):
            return next(iter(datasets.values()))
        return dict(datasets)
    return getattr(trainer, f"{kind}_dataset", None)


def _trainer_loss(trainer: Any) -> Any:
    """The trainer's loss as the user gave it: one loss, or a dict of losses per dataset."""
    losses = getattr(trainer, "losses", None)
    if isinstance(losses, dict):
        if not losses:
            return None
        if list(losses) == [""]:
            return losses[""]
        return dict(losses)
    return getattr(trainer, "loss", None)


def record_trainer(card: BaseModelCardData, trainer: Any) -> None:
    """Record a new trainer's datasets (statistics, examples), losses and usage examples on the card."""
    card._trainer_args = getattr(trainer, "args", None)  # read for the hyperparameters once trained
    hub_model_id = getattr(card._trainer_args, "hub_model_id", None)
    if hub_model_id and not card.model_id:
        card.set_model_id(hub_model_id)
    train = _trainer_datasets(trainer, "train")
    evaluation = _trainer_datasets(trainer, "eval")
    loss = _trainer_loss(trainer)
    router_mapping = getattr(getattr(trainer, "args", None), "router_mapping", None) or {}
    if train is not None:
        card.train_datasets = card.extract_dataset_metadata(train, card.train_datasets, loss, "train",
                                                            router_mapping)
    if evaluation is not None:
        card.eval_datasets = card.extract_dataset_metadata(evaluation, card.eval_datasets, loss, "eval",
                                                           router_mapping)
    card.set_losses(get_losses(loss) if loss is not None else [])
    if not card.widget and (evaluation is not None or train is not None):
        card.set_widget_examples(evaluation if evaluation is not None else train)


def trainer_train_begin(card: BaseModelCardData, args: Any, default_args: dict[str, Any] | None = None) -> None:
    """Record the training arguments (all, and those that differ from the defaults)."""
    try:
        values = args.to_dict()
    except Exception:
        values = dict(vars(args))
    card.all_hyperparameters = {k: v for k, v in values.items() if k not in _IGNORED_ARGUMENTS}
    if default_args is not None:
        card.non_default_hyperparameters = {k: v for k, v in card.all_hyperparameters.items()
                                            if k in default_args and v != default_args[k]}
    card._training_start_time = time.time()


def trainer_log(card: BaseModelCardData, logs: dict[str, Any], step: int, epoch: float | None) -> None:
    """Add a training-loss or evaluation-loss entry to the training log."""
    entry: dict[str, Any] = {}
    if "loss" in logs:
        entry["Training Loss"] = logs["loss"]
    losses = {" ".join(k.split("_")[1:]): v for k, v in logs.items() if k.startswith("eval_") and
              k.endswith("_loss")}
    if len(losses) == 1 and "loss" in losses:
        losses = {"Validation Loss": losses["loss"]}
    entry.update(losses)
    if "eval_runtime" in logs:
        card.evaluation_duration += logs["eval_runtime"]
    if not entry:
        return
    if card.training_logs and card.training_logs[-1]["Step"] == step:
        card.training_logs[-1].update(entry)
    else:
        card.training_logs.append({"Epoch": epoch, "Step": step, **entry})


def set_evaluation_metrics(card: BaseModelCardData, evaluator: Any, metrics: dict[str, Any], epoch: float = 0,
                           step: int = 0) -> None:
    """Store an evaluator's results; its primary metric also goes into the training log."""
    card.eval_results_dict[evaluator] = copy(metrics)
    primary = getattr(evaluator, "primary_metric", None)
    if not primary:
        return
    if getattr(evaluator, "evaluators", None):  # a SequentialEvaluator: the primary metric of each
        primary = [getattr(sub, "primary_metric", None) for sub in evaluator.evaluators]
    elif isinstance(primary, str):
        primary = [primary]
    logged = {key: value for key, value in metrics.items() if key in primary}
    if card.training_logs and card.training_logs[-1]["Step"] == step:
        card.training_logs[-1].update(logged)
    else:
        card.training_logs.append({"Epoch": epoch, "Step": step, **logged})


def format_eval_metrics(card: BaseModelCardData) -> dict[str, Any]:
    """Evaluation results as tables (grouped per evaluator class), metric names and the Hub ``model-index``."""
    from huggingface_hub.repocard_data import (
        EvalResult,
        eval_results_to_model_index,
    )

    eval_metrics, all_metrics, eval_results = [], {}, []
    for evaluator, metrics in card.eval_results_dict.items():
        name = getattr(evaluator, "name", None)
        primary = getattr(evaluator, "primary_metric", None)
        if name and all(key.startswith(name + "_") for key in metrics):
            metrics = {key[len(name) + 1:]: value for key, value in metrics.items()}
            if primary and primary.startswith(name + "_"):
                primary = primary[len(name) + 1:]
        metrics = {key: _to_python(value) for key, value in metrics.items()}
        rows = [{"Metric": f"**{key}**" if key == primary else key,
                 "Value": f"**{format_log(value)}**" if key == primary else format_log(value)}
                for key, value in metrics.items()]
        description = getattr(evaluator, "description", type(evaluator).__name__)
        config_code = ""
        get_config = getattr(evaluator, "get_config_dict", None)
        config = get_config() if callable(get_config) else None
        if config:
            try:
                text = json.dumps(config, indent=4)
            except TypeError:
                text = str(config)
            config_code = indent(f"```json\n{text}\n```", "  ")
        eval_metrics.append({"class_name": fullname(evaluator), "description": description,
                             "dataset_name": name, "table_lines": rows, "config_code": config_code})
        for key, value in metrics.items():
            number = _to_float(value)
            if number is None:
                continue
            eval_results.append(EvalResult(
                task_name=description, task_type=description.lower().replace(" ", "-"),
                dataset_type=name or "unknown",
                dataset_name=name.replace("_", " ").replace("-", " ") if name else "Unknown",
                metric_name=key.replace("_", " ").title(), metric_type=key, metric_value=number))
        all_metrics.update(metrics)

    grouped: list[dict[str, Any]] = []
    for entry in eval_metrics:
        mapping = {row["Metric"]: row["Value"] for row in entry["table_lines"]}
        for group in grouped:
            if (entry["class_name"] == group["class_name"]
                    and set(mapping) == {row["Metric"] for row in group["table_lines"]}
                    and entry["dataset_name"] != group["dataset_name"]
                    and entry["config_code"] == group["config_code"]):
                for row in group["table_lines"]:
                    if "Value" in row:
                        row[group["dataset_name"]] = row.pop("Value")
                    row[entry["dataset_name"]] = mapping[row["Metric"]]
                if not isinstance(group["dataset_name"], list):
                    group["dataset_name"] = [group["dataset_name"]]
                group["dataset_name"].append(entry["dataset_name"])
                break
        else:
            grouped.append(entry)
    for group in grouped:
        group["table"] = make_markdown_table(group.pop("table_lines")).replace("-:|", "--|")
    return {"eval_metrics": grouped, "metrics": list(all_metrics),
            "model-index": eval_results_to_model_index(card.model_name, eval_results)}


def format_training_logs(card: BaseModelCardData) -> dict[str, Any]:
    """The training log as a markdown table (the best checkpoint's row in bold)."""
    keys: list[str] = []
    for line in card.training_logs:
        for key in line:
            if key not in keys:
                keys.append(key)
    fixed = {"Epoch": 0, "Step": 1, "Training Loss": 2, "Validation Loss": 3}

    def order(key: str) -> int:
        if key in fixed:
            return fixed[key]
        return 4 if key.endswith("loss") else keys.index(key) + 5

    keys = sorted(keys, key=order)
    rows = [{key: f"**{format_log(line[key]) if key in line else '-'}**" if line["Step"] == card.best_model_step
             else line.get(key, "-") for key in keys} for line in card.training_logs]
    table = make_markdown_table(rows)
    return {"eval_lines": table, "explain_bold_in_eval": "**" in table}


def training_duration_data(card: BaseModelCardData) -> dict[str, str | None]:
    """Training, evaluation and total time since training began (None before it began)."""
    if card._training_start_time is None:
        return {"training_time": None, "evaluation_time": None, "total_time": None}
    total = time.time() - card._training_start_time
    return {
        "training_time": format_duration(total - card.evaluation_duration),
        "evaluation_time": format_duration(card.evaluation_duration) if card.evaluation_duration else None,
        "total_time": format_duration(total) if card.evaluation_duration else None,
    }


def codecarbon_data(card: BaseModelCardData) -> dict[str, Any]:
    """The Hub ``co2_eq_emissions`` entry from the CodeCarbon tracker of the training run."""
    data = card.code_carbon_callback.tracker._prepare_emissions_data()
    emissions = {"emissions": float(data.emissions) * 1000, "energy_consumed": float(data.energy_consumed),
                 "source": "codecarbon", "training_type": "fine-tuning", "on_cloud": data.on_cloud == "Y",
                 "cpu_model": data.cpu_model, "ram_total_size": data.ram_total_size}
    if data.gpu_model:
        emissions["hardware_used"] = data.gpu_model
    return {"co2_eq_emissions": emissions}


def apply_training_summary(card: BaseModelCardData) -> None:
    """Fill the hyperparameters and the training log from the trainer's ``model.training_summary``."""
    summary = getattr(card.model, "training_summary", None)
    if not isinstance(summary, dict):
        return
    arguments = {k: v for k, v in (summary.get("arguments") or {}).items() if k not in _IGNORED_ARGUMENTS}
    if arguments and not card.non_default_hyperparameters:
        card.non_default_hyperparameters = dict(arguments)
    if not card.all_hyperparameters:
        args = getattr(card, "_trainer_args", None)
        try:
            every = args.to_dict() if args is not None else dict(arguments)
        except Exception:
            every = dict(arguments)
        card.all_hyperparameters = {k: getattr(v, "value", v) for k, v in every.items()
                                    if k not in _IGNORED_ARGUMENTS}
    by_step = {line["Step"]: line for line in card.training_logs}
    for entry in summary.get("log_history") or []:
        if "step" not in entry:
            continue
        values: dict[str, Any] = {}
        if "loss" in entry:
            values["Training Loss"] = entry["loss"]
        losses = {" ".join(k.split("_")[1:]): v for k, v in entry.items()
                  if k.startswith("eval_") and k.endswith("_loss")}
        values.update({"Validation Loss": losses["loss"]} if list(losses) == ["loss"] else losses)
        if not values:
            continue
        line = by_step.setdefault(entry["step"], {"Epoch": entry.get("epoch"), "Step": entry["step"]})
        line.update(values)
    card.training_logs = sorted(by_step.values(), key=lambda line: line["Step"])
