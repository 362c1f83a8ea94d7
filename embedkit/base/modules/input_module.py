"""InputModule: the first module of a pipeline, the one that turns raw inputs into features (tokenization)."""

from __future__ import annotations

from typing import Any

from embedkit.base.modules.module import Module


class InputModule(Module):
    """Base of modules that own preprocessing (``preprocess``; ``tokenize`` is the 5.x name of the same call).

    An input module is saved in the model root (``save_in_root``), next to ``modules.json``, as sentence-transformers
    does for Transformer and StaticEmbedding.

    Example:
        >>> from embedkit.base.modules import InputModule, Transformer
        >>> issubclass(Transformer, InputModule)
        True
    """

    save_in_root: bool = True

    def preprocess(self, inputs: list[Any], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} does not implement preprocess()")

    def tokenize(self, texts: list[Any], **kwargs: Any) -> dict[str, Any]:
        return self.preprocess(texts, **kwargs)
