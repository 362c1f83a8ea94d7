"""CLIPModel: sentence-transformers' legacy image+text module. embedkit embeds text only, so it is refused."""

from __future__ import annotations

from typing import Any

from embedkit.base.modules.module import Module

_MESSAGE = ("CLIPModel (multimodal CLIP image/text embeddings) is not supported by embedkit, which embeds text "
            "only with its text encoders and static embeddings. Use sentence-transformers for CLIP models.")


class CLIPModel(Module):
    """Placeholder for sentence-transformers' ``CLIPModel``: building or loading it raises a clear error.

    Raises:
        NotImplementedError: always (multimodal CLIP is not supported).

    Example:
        >>> CLIPModel()
        Traceback (most recent call last):
        ...
        NotImplementedError: CLIPModel (multimodal CLIP image/text embeddings) is not supported by embedkit, which
        embeds text only with its text encoders and static embeddings. Use sentence-transformers for CLIP models.
    """

    def __init__(self, model_name_or_path: str = "openai/clip-vit-base-patch32", *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(_MESSAGE)

    @classmethod
    def load(cls, model_name_or_path: str, *args: Any, **kwargs: Any) -> CLIPModel:
        raise NotImplementedError(_MESSAGE)
