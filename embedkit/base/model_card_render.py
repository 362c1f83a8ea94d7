"""The markdown of a model card: :func:`_render_card` lays out the README.md body (front matter, model details,
usage, evaluation, training details, framework versions, citations) from the card's ``to_dict()`` data.

:meth:`~embedkit.base.model_card.BaseModelCardData.render` calls it; the parts that differ per model type
(``_card_title``, ``_card_intro``, ``_card_details_lines``, ...) are asked of the card, where subclasses override
them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embedkit.base.model_card_format import _is_library_path, _join_names

if TYPE_CHECKING:
    from embedkit.base.model_card import BaseModelCardData


def _named_datasets(datasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dataset for dataset in datasets if dataset.get("name")]


def _dataset_link(dataset: dict[str, Any]) -> str:
    if dataset.get("id"):
        return f"[{dataset.get('name') or dataset['id']}](https://huggingface.co/datasets/{dataset['id']})"
    return str(dataset["name"])


def _columns_text(columns: list[str]) -> str:
    if len(columns) == 1:
        return columns[0]
    if len(columns) == 2:
        return f"{columns[0]} and {columns[1]}"
    return ", ".join(columns[:-1]) + ", and " + columns[-1]


def _render_card(card: BaseModelCardData, data: dict[str, Any], yaml_text: str) -> str:
    """Assemble the markdown body; blocks are joined so that no two blank lines follow each other."""
    named = _named_datasets(data.get("train_datasets") or [])
    finetuned = (f" finetuned from [{data['base_model']}](https://huggingface.co/{data['base_model']})"
                 if data.get("base_model") else " trained")
    datasets_text = ""
    if named:
        if len(", ".join(str(d["name"]) for d in named)) > 200:
            datasets_text = f" on {len(data.get('train_datasets') or [])}"
        else:
            datasets_text = " on the " + _join_names([_dataset_link(d) for d in named])
        datasets_text += " datasets" if len(named) > 1 else " dataset"

    out: list[str] = [
        "---",
        "# For reference on model card metadata, see the spec: https://github.com/huggingface/hub-docs/blob/main/"
        "modelcard.md?plain=1",
        "# Doc / guide: https://huggingface.co/docs/hub/model-cards",
        yaml_text,
        "---",
        "",
        f"# {card._card_title(data)}",
        "",
        card._card_intro(data, finetuned, datasets_text),
        "",
        "## Model Details",
        "",
        "### Model Description",
        f"- **Model Type:** {card._card_model_type(data)}",
    ]
    if data.get("base_model"):
        line = f"- **Base model:** [{data['base_model']}](https://huggingface.co/{data['base_model']})"
        if data.get("base_model_revision"):
            line += f" <!-- at revision {data['base_model_revision']} -->"
        out.append(line)
    else:
        out.append("<!-- - **Base model:** [Unknown](https://huggingface.co/unknown) -->")
    out += card._card_details_lines(data)
    modalities = data.get("supported_modalities")
    if modalities:
        out.append(f"- **Supported Modalit{'ies' if len(modalities) > 1 else 'y'}:** {', '.join(modalities)}")
    if named:
        out.append(f"- **Training Dataset{'s' if len(named) > 1 else ''}:**")
        out += [f"    - {_dataset_link(d)}" for d in named]
    else:
        out.append("<!-- - **Training Dataset:** Unknown -->")
    language = data.get("language")
    if language:
        languages = [language] if isinstance(language, str) else list(language)
        out.append(f"- **Language{'s' if len(languages) > 1 else ''}:** {', '.join(languages)}")
    else:
        out.append("<!-- - **Language:** Unknown -->")
    out.append(f"- **License:** {data['license']}" if data.get("license") else "<!-- - **License:** Unknown -->")
    out += ["", "### Model Sources", ""] + card._card_sources()
    out += ["", "### Full Model Architecture", "", "```", str(data.get("model_string")), "```", "", "## Usage", "",
            "### Direct Usage (Sentence Transformers)", "", "First install the Sentence Transformers library:", "",
            "```bash", "pip install -U sentence-transformers", "```", "",
            "Then you can load this model and run inference.", data.get("usage_snippet") or "", ""]
    out += ["<!--", "### Direct Usage (Transformers)", "",
            "<details><summary>Click to see the direct usage in Transformers</summary>", "", "</details>", "-->", "",
            "<!--", "### Downstream Usage (Sentence Transformers)", "",
            "You can finetune this model on your own dataset.", "", "<details><summary>Click to expand</summary>", "",
            "</details>", "-->", "", "<!--", "### Out-of-Scope Use", "",
            "*List how the model may foreseeably be misused and address what users ought not to do with the "
            "model.*", "-->", ""]

    if data.get("eval_metrics"):
        out += ["## Evaluation", "", "### Metrics"]
        for metrics in data["eval_metrics"]:
            out += ["", f"#### {metrics['description']}", ""]
            names = metrics.get("dataset_name")
            if names:
                if isinstance(names, str):
                    out.append(f"* Dataset: `{names}`")
                else:
                    out.append(f"* Datasets: {_join_names([f'`{n}`' for n in names])}"
                               if len(names) > 1 else f"* Dataset: `{names[0]}`")
            class_name = metrics["class_name"]
            short = class_name.split(".")[-1]
            if _is_library_path(class_name):
                evaluated = (f"[<code>{short}</code>](https://sbert.net/docs/package_reference/{card._docs_section}/"
                             f"evaluation.html#sentence_transformers.{card._docs_section}.evaluation.{short})")
            else:
                evaluated = f"<code>{class_name}</code>"
            line = f"* Evaluated with {evaluated}"
            if metrics.get("config_code"):
                out += [line + " with these parameters:", metrics["config_code"]]
            else:
                out.append(line)
            out += ["", metrics["table"].rstrip("\n")]
        out.append("")

    out += ["<!--", "## Bias, Risks and Limitations", "",
            "*What are the known or foreseeable issues stemming from this model? You could also flag here known "
            "failure cases or weaknesses of the model.*", "-->", "", "<!--", "### Recommendations", "",
            "*What are recommendations with respect to the foreseeable issues? For example, filtering explicit "
            "content.*", "-->", "", "## Training Details"]

    for dataset_type, dataset_list in (("training", data.get("train_datasets") or []),
                                       ("evaluation", data.get("eval_datasets") or [])):
        if not dataset_list:
            continue
        many = len(dataset_list) > 3
        out += ["", f"### {dataset_type.title()} Dataset{'s' if len(dataset_list) > 1 else ''}"]
        for position, dataset in enumerate(dataset_list):
            title = dataset.get("name") or "Unnamed Dataset"
            if many:
                out.append(("</details>\n" if position else "") + f"<details><summary>{title}</summary>")
            out += ["", f"#### {title}", ""]
            if dataset.get("name"):
                line = f"* Dataset: {_dataset_link(dataset) if 'id' in dataset else dataset['name']}"
                if "revision" in dataset and "id" in dataset:
                    line += (f" at [{dataset['revision'][:7]}](https://huggingface.co/datasets/{dataset['id']}/tree/"
                             f"{dataset['revision']})")
                out.append(line)
            if dataset.get("size"):
                out.append(f"* Size: {dataset['size']:,} {dataset_type} samples")
            if dataset.get("columns"):
                out.append(f"* Columns: {_columns_text(dataset['columns'])}")
            if dataset.get("stats_table"):
                out.append(f"* Approximate statistics based on the first {min(dataset.get('size') or 100, 100)} "
                           "samples:")
                out.append(dataset["stats_table"].rstrip("\n"))
            if dataset.get("examples_table"):
                out.append("* Samples:")
                out.append(dataset["examples_table"].rstrip("\n"))
            loss = dataset.get("loss") or {}
            if loss.get("fullname"):
                loss_name = loss["fullname"]
                short = loss_name.split(".")[-1]
                if _is_library_path(loss_name):
                    text = (f"* Loss: [<code>{short}</code>](https://sbert.net/docs/package_reference/"
                            f"{card._docs_section}/losses.html#{short.lower()})")
                else:
                    text = f"* Loss: <code>{loss_name}</code>"
                if "config_code" in loss:
                    out += [text + " with these parameters:", loss["config_code"]]
                else:
                    out.append(text)
        if many:
            out.append("</details>")

    if data.get("all_hyperparameters") or data.get("non_default_hyperparameters"):
        out += ["", "### Training Hyperparameters"]
        if data.get("non_default_hyperparameters"):
            out += ["#### Non-Default Hyperparameters", ""]
            out += [f"- `{k}`: {v}" for k, v in data["non_default_hyperparameters"].items()]
            out.append("")
        if data.get("all_hyperparameters"):
            out += ["#### All Hyperparameters", "<details><summary>Click to expand</summary>", ""]
            out += [f"- `{k}`: {v}" for k, v in data["all_hyperparameters"].items()]
            out += ["", "</details>"]

    if data.get("eval_lines"):
        out += ["", "### Training Logs"]
        if data.get("hide_eval_lines"):
            out += ["<details><summary>Click to expand</summary>", ""]
        out.append(data["eval_lines"].rstrip("\n"))
        if data.get("explain_bold_in_eval"):
            out.append("* The bold row denotes the saved checkpoint.")
        if data.get("hide_eval_lines"):
            out.append("</details>")

    emissions = data.get("co2_eq_emissions")
    if emissions:
        out += ["", "### Environmental Impact",
                "Carbon emissions were measured using [CodeCarbon](https://github.com/mlco2/codecarbon).",
                f"- **Energy Consumed**: {emissions['energy_consumed']:.3f} kWh",
                f"- **Carbon Emitted**: {emissions['emissions'] / 1000:.3f} kg of CO2", "", "### Training Hardware",
                f"- **On Cloud**: {'Yes' if emissions['on_cloud'] else 'No'}",
                f"- **GPU Model**: {emissions.get('hardware_used') or 'No GPU used'}",
                f"- **CPU Model**: {emissions['cpu_model']}",
                f"- **RAM Size**: {emissions['ram_total_size']:.2f} GB"]
    if data.get("training_time") is not None:
        out += ["", "### Training Time", f"- **Training**: {data['training_time']}"]
        if data.get("evaluation_time") is not None:
            out += [f"- **Evaluation**: {data['evaluation_time']}", f"- **Total**: {data['total_time']}"]

    version = data.get("version") or {}
    out += ["", "### Framework Versions", f"- Python: {version.get('python')}",
            f"- embedkit: {version.get('embedkit')}",
            f"- Sentence Transformers: {version.get('sentence_transformers')}",
            f"- Transformers: {version.get('transformers')}", f"- PyTorch: {version.get('torch')}",
            f"- Accelerate: {version.get('accelerate')}", f"- Datasets: {version.get('datasets')}",
            f"- Tokenizers: {version.get('tokenizers')}", "", "## Additional Resources", ""]
    out += card._card_resources()
    out += ["", "## Citation", "", "### BibTeX"]
    for loss_name, citation in (data.get("citations") or {}).items():
        out += ["", f"#### {loss_name}", "```bibtex", citation.strip(), "```"]
    out += ["", "<!--", "## Glossary", "", "*Clearly define terms in order to be accessible across audiences.*", "-->",
            "", "<!--", "## Model Card Authors", "",
            "*Lists the people who create the model card, providing recognition and accountability for the detailed "
            "work that goes into its construction.*", "-->", "", "<!--", "## Model Card Contact", "",
            "*Provides a way for people who have updates to the Model Card, suggestions, or questions, to contact the "
            "Model Card authors.*", "-->"]
    text = "\n".join(out) + "\n"
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text

