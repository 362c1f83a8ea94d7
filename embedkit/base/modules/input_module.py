"""InputModule: the first module of a pipeline, the one that turns raw inputs into features (tokenization)."""

from __future__ import annotations

import logging
import os
from typing import Any

from embedkit.base.modules.module import Module

logger = logging.getLogger(__name__)
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning(message)


class InputModule(Module):
    """Base of modules that own preprocessing (``preprocess``; ``tokenize`` is the 5.x name of the same call).

    An input module is saved in the model root (``save_in_root``), next to ``modules.json``, as sentence-transformers
    does for Transformer and StaticEmbedding. A subclass written for sentence-transformers 5.x that overrides only
    ``tokenize`` still works: ``preprocess`` prepends the prompt and delegates to it (with a one-time warning).

    Example:
        >>> from embedkit.base.modules import InputModule, Transformer
        >>> issubclass(Transformer, InputModule)
        True
        >>> InputModule._prepend_prompt(["cats"], "query: ")
        ['query: cats']
    """

    save_in_root: bool = True

    @property
    def modalities(self) -> list[str]:
        """Input modalities this module handles: text only in embedkit."""
        return ["text"]

    @staticmethod
    def _prepend_prompt(inputs: list[str], prompt: str) -> list[str]:
        return [prompt + text for text in inputs]

    def preprocess(self, inputs: list[Any], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Turn raw inputs into the features the module's ``forward`` reads.

        Raises:
            NotImplementedError: the subclass overrides neither ``preprocess`` nor ``tokenize``.
        """
        if type(self).tokenize is not InputModule.tokenize:
            _warn_once(f"{type(self).__name__} overrides `tokenize` instead of `preprocess`. "
                       "`tokenize` is deprecated, please override `preprocess` instead.")
            if prompt:
                inputs = self._prepend_prompt(list(inputs), prompt)
            return self.tokenize(inputs, **kwargs)
        raise NotImplementedError(f"{type(self).__name__} must implement the `preprocess` method.")

    def tokenize(self, texts: list[Any], **kwargs: Any) -> dict[str, Any]:
        """Deprecated name of :meth:`preprocess` (kept for sentence-transformers 5.x code)."""
        _warn_once("The `tokenize` method is deprecated, please use `preprocess` instead.")
        return self.preprocess(texts, **kwargs)

    def save_tokenizer(self, output_path: str | os.PathLike, **kwargs: Any) -> None:
        """Save ``self.tokenizer`` (when the module has one with a ``save`` method) into ``output_path``."""
        tokenizer = getattr(self, "tokenizer", None)
        if tokenizer is None:
            return
        if hasattr(tokenizer, "save_pretrained"):
            tokenizer.save_pretrained(output_path, **kwargs)
        elif hasattr(tokenizer, "save"):
            from pathlib import Path

            path = Path(output_path)
            tokenizer.save(str(path / "tokenizer.json") if path.is_dir() else str(path), **kwargs)
