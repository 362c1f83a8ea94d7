"""CrossEncoder: scores (text, text) pairs with a BERT/MPNet sequence-classification model.

Folders it reads:
- a plain HF ``*ForSequenceClassification`` folder (``config.json`` + weights + tokenizer);
- sentence-transformers 4.x-5.3 CrossEncoder folders: the same, with the activation in ``config.json`` under
  ``sentence_transformers.activation_fn`` (or the legacy ``sbert_ce_default_activation_function``);
- sentence-transformers 5.4+/6.x modular folders: ``modules.json`` holding one root Transformer whose
  ``sentence_bert_config.json`` says ``transformer_task: sequence-classification``, and
  ``config_sentence_transformers.json`` with ``model_type: CrossEncoder`` and ``activation_fn``.
It writes the modular format, which sentence-transformers 6.x loads.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from embedkit.base.modules.module import (
    class_path,
    import_torch_class,
    read_json_file,
    write_json_file,
)
from embedkit.encoders.heads import SequenceClassifier
from embedkit.encoders.loading import read_state_dict
from embedkit.eval_mode import ensure_eval
from embedkit.model_folder import ST_VERSION_WRITTEN, saved_versions
from embedkit.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

TRANSFORMER_TYPES = ("sentence_transformers.base.modules.transformer.Transformer",
                     "sentence_transformers.models.Transformer",
                     "sentence_transformers.sentence_transformer.modules.transformer.Transformer")


def _check_pairs(inputs: list[Any]) -> None:
    """Raise TypeError naming the first item that is not a pair of strings."""
    for i, item in enumerate(inputs):
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise TypeError(f"input {i} has type {type(item).__name__} ({item!r:.60}); expected a (str, str) pair")


def _pair_length(pair: Any) -> int:
    return sum(len(x) for x in pair if isinstance(x, str)) if isinstance(pair, (tuple, list)) else 0


def _make_activation(value: str | nn.Module | None, source: str) -> nn.Module | None:
    if value is None or isinstance(value, nn.Module):
        return value
    return import_torch_class(value)()


class CrossEncoder(nn.Module):
    """Score text pairs jointly with a sequence-classification encoder (BERT or MPNet).

    Args:
        model_name_or_path: local folder or Hub id (ids without an organisation resolve under ``cross-encoder/``).
        num_labels: expected number of labels; must match the checkpoint (heads are never re-initialised).
        max_length: truncate pairs to this many tokens (default: saved value, else the tokenizer's
            ``model_max_length`` capped at ``max_position_embeddings``).
        activation_fn: applied to the logits by :meth:`predict` (default: saved one, else Sigmoid for one label
            and Identity otherwise).
        device: ``"cpu"``, ``"cuda"``, ... (default: best available).
        cache_folder / revision / token / local_files_only: Hub download options.
        trust_remote_code: must be False; embedkit never runs code from a model folder.

    Example:
        >>> from pathlib import Path
        >>> import embedkit
        >>> folder = Path(embedkit.__file__).parent.parent / "tests" / "fixtures" / "ce_bert1"
        >>> ce = CrossEncoder(folder, device="cpu")
        >>> scores = ce.predict([("a question", "an answer"), ("hello", "world")])
        >>> scores.shape, bool(((scores > 0) & (scores < 1)).all())
        ((2,), True)
        >>> [hit["corpus_id"] for hit in ce.rank("q", ["x", "y"])] in ([0, 1], [1, 0])
        True
    """

    def __init__(
        self,
        model_name_or_path: str | os.PathLike,
        *,
        num_labels: int | None = None,
        max_length: int | None = None,
        activation_fn: nn.Module | None = None,
        device: str | torch.device | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        token: bool | str | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__()
        from embedkit.hub import resolve_model_path
        from embedkit.sentence_transformer.model import default_device, refuse_remote_code

        refuse_remote_code(trust_remote_code)
        folder = resolve_model_path(
            model_name_or_path, cache_folder=cache_folder, revision=revision, token=token,
            local_files_only=local_files_only, default_organization="cross-encoder",
        )
        self.model_name_or_path = str(model_name_or_path)
        saved_activation, saved_max_length, do_lower_case, is_classifier_folder = self._read_st_configs(folder)

        config_path = folder / "config.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"no config.json in {folder}")
        hf_config = read_json_file(config_path)
        legacy = hf_config.get("sentence_transformers", {})
        if saved_activation is None and isinstance(legacy, dict):
            saved_activation = legacy.get("activation_fn")
        if saved_activation is None:
            saved_activation = hf_config.get("sbert_ce_default_activation_function")
        state, source = read_state_dict(folder)
        has_head = any(key.startswith("classifier.") for key in state)
        if has_head and is_classifier_folder:
            self.model = SequenceClassifier.from_hf_state_dict(hf_config, state, str(source), num_labels=num_labels)
        else:  # a bi-encoder or plain encoder checkpoint: train a new head on it, as ST does
            new_labels = 1 if num_labels is None else num_labels
            logger.warning("%s has no classification head: starting a new %d-label head; train it before use",
                           folder, new_labels)
            self.model = SequenceClassifier.from_encoder_state_dict(hf_config, state, new_labels, str(source))
        self.config = self.model.config

        self.tokenizer = Tokenizer(
            folder, do_lower_case=do_lower_case, return_token_type_ids=self.config.model_type == "bert"
        )
        if self.tokenizer.vocab_size > self.config.vocab_size:
            raise ValueError(
                f"{folder}: the tokenizer has {self.tokenizer.vocab_size} tokens but the model's embedding has only "
                f"{self.config.vocab_size} rows; tokenizer and weights do not belong together"
            )
        self.do_lower_case = do_lower_case
        if max_length is None:
            max_length = saved_max_length
        if max_length is None:
            max_length = min(self.tokenizer.model_max_length, self.config.max_position_embeddings)
        self.max_length = max_length

        if activation_fn is None and saved_activation is not None:
            activation_fn = _make_activation(saved_activation, str(folder))
        self.activation_fn = activation_fn if activation_fn is not None else self.get_default_activation_fn()
        self.to(default_device() if device is None else device)
        ensure_eval(self)

    @staticmethod
    def _read_st_configs(folder: Path) -> tuple[str | None, int | None, bool, bool]:
        """Read the sentence-transformers files if present.

        Returns (activation path, max_seq_length, do_lower_case, is a classifier folder). A SentenceTransformer
        (bi-encoder) folder is not a classifier folder: its root Transformer becomes the backbone of a new head.
        """
        activation, model_type = None, "CrossEncoder"
        st_config_path = folder / "config_sentence_transformers.json"
        if st_config_path.is_file():
            st_config = read_json_file(st_config_path)
            model_type = st_config.get("model_type", "SentenceTransformer")
            if model_type not in ("CrossEncoder", "SentenceTransformer"):
                raise ValueError(f"{folder}: config_sentence_transformers.json has model_type={model_type!r}; "
                                 "a CrossEncoder loads CrossEncoder folders or SentenceTransformer backbones")
            activation = st_config.get("activation_fn")
        modules_path = folder / "modules.json"
        if not modules_path.is_file():
            return activation, None, False, True
        modules = read_json_file(modules_path)
        if not (isinstance(modules, list) and modules and modules[0].get("path", "") in ("", ".")
                and modules[0].get("type") in TRANSFORMER_TYPES):
            raise ValueError(f"{folder}: modules.json must start with a root Transformer module, got {modules!r}")
        sbert_path = folder / "sentence_bert_config.json"
        sbert = read_json_file(sbert_path) if sbert_path.is_file() else {}
        task = sbert.get("transformer_task", "feature-extraction")
        max_length, lower = sbert.get("max_seq_length"), bool(sbert.get("do_lower_case", False))
        if task == "feature-extraction" and model_type == "SentenceTransformer":
            return None, max_length, lower, False
        if len(modules) != 1 or task != "sequence-classification":
            raise ValueError(f"{folder}: transformer_task={task!r} with {len(modules)} modules; a CrossEncoder "
                             "folder has one root Transformer with 'sequence-classification'")
        output_name = sbert.get("module_output_name", "scores")
        if output_name != "scores":
            raise ValueError(f"{folder}: module_output_name={output_name!r} is not supported (scores only)")
        return activation, max_length, lower, True

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def num_labels(self) -> int:
        return self.model.num_labels

    @property
    def max_length(self) -> int:
        return self.tokenizer.model_max_length

    @max_length.setter
    def max_length(self, value: int) -> None:
        self.tokenizer.model_max_length = int(value)

    max_seq_length = max_length

    def get_default_activation_fn(self) -> nn.Module:
        """Sigmoid for a single-label model, Identity otherwise (as sentence-transformers)."""
        return nn.Sigmoid() if self.num_labels == 1 else nn.Identity()

    def preprocess(self, pairs: list[tuple[str, str]] | list[list[str]]) -> dict[str, Tensor]:
        """Tokenize pairs: ``input_ids``, ``attention_mask`` (and BERT ``token_type_ids``), each (B, T).

        Raises:
            TypeError: an item is not a pair of strings (the message names its index).
        """
        pairs = list(pairs)
        _check_pairs(pairs)
        return self.tokenizer([(a, b) for a, b in pairs], max_length=self.max_length)

    tokenize = preprocess

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        logits = self.model(features["input_ids"], features.get("attention_mask"), features.get("token_type_ids"))
        return {**features, "scores": logits}  # (B, num_labels)

    def predict(
        self,
        sentences: tuple[str, str] | list[str] | list[tuple[str, str]] | list[list[str]],
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: nn.Module | None = None,
        apply_softmax: bool = False,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        *,
        prompt: str | None = None,
        device: str | torch.device | list[str] | None = None,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
    ) -> np.ndarray | Tensor | list[Tensor] | float:
        """Score pairs. Returns (N,) for one label, (N, num_labels) otherwise; a single pair gives a scalar/row.

        Args:
            prompt: prepended to the first text of every pair.
            device: a device for this call, or a list of devices to score on several processes at once.
            pool: a pool from :meth:`start_multi_process_pool` (scores on its worker processes).
            chunk_size: pairs per job sent to a pool worker.

        Raises:
            ValueError: ``batch_size`` is not positive.
            TypeError: an item is not a pair of strings (the message names its index).
        """
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        single = (isinstance(sentences, (tuple, list)) and len(sentences) == 2
                  and all(isinstance(x, str) for x in sentences))
        inputs = [sentences] if single else list(sentences)
        _check_pairs(inputs)
        if prompt:
            inputs = [(prompt + a, b) for a, b in inputs]
        if pool is not None or isinstance(device, (list, tuple)):
            from embedkit.multiprocess import run_on_pool_or_devices

            scores = run_on_pool_or_devices(self, "predict", inputs, pool, device, chunk_size, dict(
                batch_size=batch_size, activation_fn=activation_fn, apply_softmax=apply_softmax,
                convert_to_numpy=False, show_progress_bar=False))
        else:
            if device is not None:
                self.to(device)
            scores = self._predict_batches(inputs, batch_size, show_progress_bar, activation_fn, apply_softmax)
        result: Any
        if convert_to_tensor:
            result = torch.stack(scores) if scores else torch.tensor([], device=self.device)
        elif convert_to_numpy:
            result = torch.stack(scores).float().cpu().numpy() if scores else np.array([])
        else:
            result = scores
        return result[0] if single else result

    @torch.inference_mode()
    def _predict_batches(self, inputs: list[Any], batch_size: int, show_progress_bar: bool | None,
                         activation_fn: nn.Module | None, apply_softmax: bool) -> list[Tensor]:
        """Scores in input order; batches are formed from length-sorted pairs."""
        activation_fn = self.activation_fn if activation_fn is None else activation_fn
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
        ensure_eval(self)
        order = np.argsort([-_pair_length(p) for p in inputs], kind="stable")
        scores: list[Tensor] = []
        from tqdm.auto import trange

        for start in trange(0, len(inputs), batch_size, desc="Batches", disable=not show_progress_bar):
            batch = [inputs[i] for i in order[start : start + batch_size]]
            features = {k: v.to(self.device) for k, v in self.preprocess(batch).items()}
            logits = self(features)["scores"]  # (B, num_labels)
            if logits.is_floating_point() and torch.finfo(logits.dtype).bits < 32:
                logits = logits.float()
            out = activation_fn(logits) if activation_fn is not None else logits
            if self.num_labels == 1 and out.ndim > 1:
                out = out.squeeze(-1)  # (B,)
            if apply_softmax and out.ndim > 1:
                out = torch.softmax(out, dim=1)
            scores.extend(out)
        return [scores[i] for i in np.argsort(order)] if scores else []

    def start_multi_process_pool(self, target_devices: list[str] | None = None) -> dict[str, Any]:
        """Worker processes (one per device; default all CUDA devices, else 4 CPU workers) for
        ``predict(..., pool=pool)``. Call it under ``if __name__ == "__main__":``.

        Example:
            >>> from pathlib import Path
            >>> import embedkit
            >>> ce = CrossEncoder(Path(embedkit.__file__).parent.parent / "tests" / "fixtures" / "ce_bert1")
            >>> pool = ce.start_multi_process_pool(["cpu", "cpu"])  # doctest: +SKIP
            >>> ce.predict([("q", "a"), ("q", "b")], pool=pool).shape  # doctest: +SKIP
            (2,)
            >>> CrossEncoder.stop_multi_process_pool(pool)  # doctest: +SKIP
        """
        from embedkit.multiprocess import start_pool

        return start_pool(self, target_devices)

    @staticmethod
    def stop_multi_process_pool(pool: dict[str, Any]) -> None:
        from embedkit.multiprocess import stop_pool

        stop_pool(pool)

    def rank(
        self,
        query: str,
        documents: list[str],
        top_k: int | None = None,
        return_documents: bool = False,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: nn.Module | None = None,
        *,
        prompt: str | None = None,
        device: str | torch.device | list[str] | None = None,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
    ) -> list[dict[str, Any]]:
        """Score ``query`` against every document; returns ``{"corpus_id", "score"[, "text"]}`` best first.

        ``prompt``, ``device``, ``pool`` and ``chunk_size`` are passed to :meth:`predict`.

        Raises:
            ValueError: the model has more than one label.
        """
        if self.num_labels != 1:
            raise ValueError(f"rank() needs a model with num_labels=1; this one has {self.num_labels}")
        if not isinstance(query, str):
            raise TypeError(f"query has type {type(query).__name__}; expected str")
        documents = list(documents)
        scores = self.predict([(query, doc) for doc in documents], batch_size=batch_size,
                              show_progress_bar=show_progress_bar, activation_fn=activation_fn,
                              convert_to_numpy=True, prompt=prompt, device=device, pool=pool, chunk_size=chunk_size)
        results = []
        for i, score in enumerate(np.asarray(scores).reshape(-1)):
            hit: dict[str, Any] = {"corpus_id": i, "score": float(score)}
            if return_documents:
                hit["text"] = documents[i]
            results.append(hit)
        results.sort(key=lambda hit: hit["score"], reverse=True)
        return results[:top_k] if top_k is not None else results

    def quantize(self, dtype: str = "int8", calibration_texts: list[str] | None = None, alpha: float = 0.7) -> Any:
        """Opt-in int8 inference on CPU (SmoothQuant + dynamic int8 Linear layers), in place; returns the model.

        See :mod:`embedkit.quantization_int8`. The model can no longer be trained or saved.

        Example:
            >>> from pathlib import Path
            >>> import embedkit
            >>> folder = Path(embedkit.__file__).parent.parent / "tests" / "fixtures" / "ce_bert1"
            >>> CrossEncoder(folder, device="cpu").quantize("int8").predict([("a", "b")]).shape
            (1,)
        """
        if dtype != "int8":
            raise ValueError(f"quantize supports 'int8' only, got {dtype!r}")
        from embedkit.quantization_int8 import quantize_int8

        return quantize_int8(self, calibration_texts, alpha)

    def save(self, path: str | os.PathLike, safe_serialization: bool = True, create_model_card: bool = True,
             **kwargs: Any) -> None:
        """Write the sentence-transformers 5.4+/6.x modular CrossEncoder folder (loadable by ST 6 and transformers)."""
        if getattr(self, "quantized", None):
            raise ValueError("a quantized model cannot be saved; save the fp32 model and quantize after loading")
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        hf_config = self.model.hf_config()
        # sentence-transformers 4.x-5.3 read the activation from config.json; 5.4+/6.x from the file below.
        hf_config["sentence_transformers"] = {"activation_fn": class_path(self.activation_fn),
                                             "version": ST_VERSION_WRITTEN}
        write_json_file(path / "config.json", hf_config, sort_keys=True)
        state = {k: v.cpu() for k, v in self.model.hf_state_dict().items()}
        if safe_serialization:
            save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
        else:
            torch.save(state, path / "pytorch_model.bin")
        self.tokenizer.save(path, model_max_length=self.max_length)
        write_json_file(path / "modules.json", [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
        ])
        write_json_file(path / "sentence_bert_config.json", {
            "transformer_task": "sequence-classification",
            "modality_config": {"text": {"method": "forward", "method_output_name": "logits"}},
            "module_output_name": "scores",
            "max_seq_length": self.max_length,
            "do_lower_case": self.do_lower_case,
        })
        write_json_file(path / "config_sentence_transformers.json", {
            "__version__": saved_versions(),
            "activation_fn": class_path(self.activation_fn),
            "default_prompt_name": None,
            "model_type": "CrossEncoder",
            "prompts": {},
        })

    save_pretrained = save
