"""SequenceClassificationTransformer: a Transformer with ``transformer_task="sequence-classification"``.

It tokenizes like :class:`~embedkit.base.modules.Transformer` and runs an encoder with a classification head (HF
``*ForSequenceClassification``), writing ``scores`` (B, num_labels). sentence-transformers 6.x builds CrossEncoders
from this module; here ``Transformer(path, transformer_task="sequence-classification")`` builds it, and
``CrossEncoder(modules=[it])`` runs it as a CrossEncoder loaded from ``path`` would.

Its folder is a CrossEncoder root: ``config.json`` with the classifier architecture and labels, the weights under
transformers' names, the tokenizer, and ``sentence_bert_config.json`` naming the task.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from embedkit.base.modules.input_module import InputModule
from embedkit.base.modules.transformer import Transformer
from embedkit.encoders.heads import SequenceClassifier, load_sequence_classifier
from embedkit.encoders.loading import read_state_dict
from embedkit.tokenizer import Tokenizer


class SequenceClassificationTransformer(Transformer):
    """Tokenizer + encoder + classification head. Writes ``scores`` (B, num_labels) into the features.

    Args:
        model_name_or_path: a folder (or Hub id) with a ``*ForSequenceClassification`` checkpoint; any other BERT /
            MPNet checkpoint gets a new head (``config_kwargs={"num_labels": N}``, default 1), with a warning.
        Other arguments are :class:`~embedkit.base.modules.Transformer`'s.

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit.base.modules import Transformer
        >>> t = Transformer(default_model_path(), transformer_task="sequence-classification")  # a new 1-label head
        >>> type(t).__name__, t.config.num_labels
        ('SequenceClassificationTransformer', 1)
        >>> t(t.preprocess([("a question", "an answer")]))["scores"].shape
        torch.Size([1, 1])
    """

    task = "sequence-classification"

    def __init__(
        self,
        model_name_or_path: str | os.PathLike,
        max_seq_length: int | None = None,
        do_lower_case: bool = False,
        tokenizer_name_or_path: str | os.PathLike | None = None,
        *,
        transformer_task: str = "sequence-classification",
        **kwargs: Any,
    ) -> None:
        super().__init__(model_name_or_path, max_seq_length, do_lower_case, tokenizer_name_or_path,
                         transformer_task=transformer_task, **kwargs)

    @classmethod
    def from_classifier(cls, classifier: SequenceClassifier, tokenizer: Tokenizer, do_lower_case: bool = False,
                        modality_config: dict[Any, dict[str, Any]] | None = None
                        ) -> SequenceClassificationTransformer:
        """The module around a classifier and tokenizer that are already built; both are shared, not copied.
        ``modality_config`` as saved with the classifier; None infers it (``"message"`` too when the tokenizer has a
        chat template).

        A loaded CrossEncoder answers ``model[0]`` with this (as sentence-transformers 6.x, whose CrossEncoder is
        this one module): editing its ``max_seq_length`` or weights edits the CrossEncoder's.

        Example:
            >>> from embedkit import CrossEncoder
            >>> from embedkit.default_model import default_model_path
            >>> ce = CrossEncoder(default_model_path(), device="cpu")
            >>> module = SequenceClassificationTransformer.from_classifier(ce.model, ce.tokenizer)
            >>> module.auto_model is ce.model, module.get_embedding_dimension()
            (True, 384)
        """
        module = cls.__new__(cls)
        InputModule.__init__(module)
        output_name = None if modality_config is None else "scores"
        module._init_settings(cls.task, do_lower_case, "torch", None, modality_config, output_name, None, None, None,
                              None)
        module._attach_model(classifier)
        module.tokenizer = tokenizer
        module._prompt_length_mapping = {}
        module._attach_input_formatter(infer_message=modality_config is None)
        return module

    def _load_model(self, folder: Path, hf_config: dict[str, Any], config_kwargs: dict[str, Any]
                    ) -> SequenceClassifier:
        """The classifier; a checkpoint that is not a ``*ForSequenceClassification`` one gets a new head."""
        state, source = read_state_dict(folder)
        is_classifier = any(str(name).endswith("ForSequenceClassification")
                            for name in hf_config.get("architectures") or [])
        model = load_sequence_classifier(hf_config, state, str(source), config_kwargs.get("num_labels"),
                                         is_classifier)
        self.config = model.config
        return model

    @property
    def num_labels(self) -> int:
        return self.auto_model.num_labels

    def __repr__(self) -> str:
        architecture = self.auto_model.hf_config()["architectures"][0]
        return f"Transformer({dict(self.get_config_dict(), architecture=architecture)})"

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Add ``scores`` (B, num_labels): the classifier's logits (no activation)."""
        logits = self.auto_model(features["input_ids"], features.get("attention_mask"),
                                 features.get("token_type_ids"))
        return {**features, "scores": logits}  # (B, num_labels)

    always_saves_task = True

    def save(self, output_path: str | os.PathLike, *args: Any, safe_serialization: bool = True, **kwargs: Any
             ) -> None:
        """Write config.json (classifier architecture, labels), the weights under transformers' names, the
        tokenizer and ``sentence_bert_config.json``."""
        self._save_with_head(output_path, safe_serialization)
