"""Reading and writing a classifier CrossEncoder's folder (written as sentence-transformers 5.4+/6.x lays it out).

config.json (with the activation where ST 4.x-5.3 read it), the weights under transformers' names, the tokenizer,
``modules.json`` naming one root Transformer and ``sentence_bert_config.json`` saying ``sequence-classification``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from embedkit.base.modules.module import class_path, read_json_file, write_json_file
from embedkit.cross_encoder.folder_configs import read_folder_configs, saved_modality_config
from embedkit.encoders.heads import load_sequence_classifier
from embedkit.encoders.input_limits import check_tokenizer_fits, max_input_length, uses_token_types
from embedkit.encoders.loading import read_state_dict
from embedkit.encoders.lora import ADAPTER_CONFIG, load_adapter_folder
from embedkit.encoders.save_pretrained import write_network
from embedkit.model_folder import ST_VERSION_WRITTEN
from embedkit.tokenizer import Tokenizer


def save_classifier_folder(model: Any, path: Path, weights: str) -> None:
    """Write ``model`` (a CrossEncoder holding a classifier) into ``path``; ``weights`` is the weights file name
    (``model.safetensors`` or ``pytorch_model.bin``).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from embedkit import CrossEncoder
        >>> from embedkit.default_model import default_model_path
        >>> folder = Path(tempfile.mkdtemp())
        >>> save_classifier_folder(CrossEncoder(default_model_path(), device="cpu"), folder, "model.safetensors")
        >>> sorted(p.name for p in folder.iterdir())[:3]
        ['config.json', 'model.safetensors', 'modules.json']
    """
    def hf_config() -> dict[str, Any]:
        config = model.model.hf_config()
        # sentence-transformers 4.x-5.3 read the activation from config.json; 5.4+/6.x from
        # config_sentence_transformers.json
        config["sentence_transformers"] = {"activation_fn": class_path(model.activation_fn),
                                           "version": ST_VERSION_WRITTEN}
        return config

    # the classifier (or, with a LoRA adapter, the adapter instead, as transformers saves it)
    write_network(model.model, model.config.model_type, path, weights == "model.safetensors", hf_config,
                  model.model.hf_state_dict)
    model.tokenizer.save(path, model_max_length=model.max_seq_length)
    write_json_file(path / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
    ])
    write_json_file(path / "sentence_bert_config.json", {
        "transformer_task": "sequence-classification",
        "modality_config": model[0].get_config_dict()["modality_config"],
        "module_output_name": "scores",
        "max_seq_length": model.max_seq_length,
        "do_lower_case": model.do_lower_case,
    })


def load_classifier_folder(model: Any, folder: Path, num_labels: int | None, max_length: int | None,
                           config_kwargs: dict[str, Any], loading_keys: frozenset[str]) -> dict[str, Any]:
    """Build ``model.model`` and ``model.tokenizer`` of a CrossEncoder from a classifier ``folder`` (or a PEFT adapter
    folder naming its base); returns the saved CrossEncoder settings (``activation_fn`` path, ``prompts``,
    ``default_prompt_name``, ``modality_config``). ``config_kwargs`` keys in ``loading_keys`` are not config
    overrides."""
    saved_activation, saved_max_length, do_lower_case, is_classifier_folder, st_config = \
        read_folder_configs(folder)
    given = model.model_name_or_path or str(folder)
    # where the classifier's weights come from (recorded as the base model of adapters added to it)
    model.base_name_or_path = str(folder) if Path(given).expanduser().is_dir() else given
    adapter_folder, tokenizer_folder = None, folder
    if (folder / ADAPTER_CONFIG).is_file():  # a PEFT adapter folder: the classifier is its base model's
        adapter_folder = folder
        base = read_json_file(folder / ADAPTER_CONFIG).get("base_model_name_or_path")
        if not base:
            raise ValueError(f"{folder / ADAPTER_CONFIG} names no base_model_name_or_path")
        from embedkit.hub import resolve_model_path

        folder, model.base_name_or_path = resolve_model_path(base, **getattr(model, "_hub_kwargs", {})), base
        if not (tokenizer_folder / "tokenizer.json").is_file() and not (tokenizer_folder / "vocab.txt").is_file():
            tokenizer_folder = folder
    config_path = folder / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(f"no config.json in {folder}")
    hf_config = read_json_file(config_path)
    legacy = hf_config.get("sentence_transformers", {})
    if saved_activation is None and isinstance(legacy, dict):
        saved_activation = legacy.get("activation_fn")
    if saved_activation is None:
        saved_activation = hf_config.get("sbert_ce_default_activation_function")
    hf_config.pop("sbert_ce_default_activation_function", None)
    overrides = {k: v for k, v in config_kwargs.items() if k not in loading_keys}
    num_labels = overrides.pop("num_labels", num_labels) if num_labels is None else num_labels
    overrides.pop("num_labels", None)
    hf_config.update(overrides)
    state, source = read_state_dict(folder)
    model.model = load_sequence_classifier(hf_config, state, str(source), num_labels, is_classifier_folder)
    if adapter_folder is not None:
        load_adapter_folder(model.model, model.config.model_type, adapter_folder)
    model.tokenizer = Tokenizer(tokenizer_folder, do_lower_case=do_lower_case,
                               return_token_type_ids=uses_token_types(model.config, str(folder)))
    check_tokenizer_fits(model.tokenizer, model.config, str(folder))
    model.do_lower_case = do_lower_case
    if max_length is None:
        max_length = saved_max_length
    if max_length is None:
        max_length = min(model.tokenizer.model_max_length, max_input_length(model.config))
    model.max_seq_length = max_length
    if not is_classifier_folder:  # a SentenceTransformer's prompts belong to its embeddings, not to pairs
        st_config = {}
    return {"activation_fn": saved_activation, "prompts": st_config.get("prompts"),
            "default_prompt_name": st_config.get("default_prompt_name"),
            "modality_config": saved_modality_config(folder)}
