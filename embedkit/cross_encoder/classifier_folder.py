"""Writing a classifier CrossEncoder's folder as sentence-transformers 5.4+/6.x lays it out.

config.json (with the activation where ST 4.x-5.3 read it), the weights under transformers' names, the tokenizer,
``modules.json`` naming one root Transformer and ``sentence_bert_config.json`` saying ``sequence-classification``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from embedkit.base.modules.module import class_path, write_json_file
from embedkit.encoders.lora import adapter_configs, write_active_adapter
from embedkit.model_folder import ST_VERSION_WRITTEN


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
    from safetensors.torch import save_file

    if adapter_configs(model.model):  # with a LoRA adapter: the adapter instead of the classifier, as transformers
        write_active_adapter(model.model, model.config.model_type, path, weights == "model.safetensors")
    else:
        hf_config = model.model.hf_config()
        # sentence-transformers 4.x-5.3 read the activation from config.json; 5.4+/6.x from
        # config_sentence_transformers.json
        hf_config["sentence_transformers"] = {"activation_fn": class_path(model.activation_fn),
                                             "version": ST_VERSION_WRITTEN}
        write_json_file(path / "config.json", hf_config, sort_keys=True)
        state = {k: v.cpu() for k, v in model.model.hf_state_dict().items()}
        if weights == "model.safetensors":
            save_file(state, str(path / weights), metadata={"format": "pt"})
        else:
            torch.save(state, path / weights)
    model.tokenizer.save(path, model_max_length=model.max_length)
    write_json_file(path / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
    ])
    write_json_file(path / "sentence_bert_config.json", {
        "transformer_task": "sequence-classification",
        "modality_config": model[0].get_config_dict()["modality_config"],
        "module_output_name": "scores",
        "max_seq_length": model.max_length,
        "do_lower_case": model.do_lower_case,
    })
