"""PEFT adapter methods (``add_adapter``, ``load_adapter``, ...): the names sentence-transformers models have.

embedkit's encoders are hand-written modules, not transformers models, so the ``peft`` library cannot wrap them. The
methods exist so that code written for sentence-transformers fails with one clear message instead of an
``AttributeError``; ``has_peft_compatible_model`` answers ``False``.
"""

from __future__ import annotations

from typing import Any, NoReturn

_MESSAGE = ("PEFT adapters are not supported by embedkit: its encoders are plain PyTorch modules, not transformers "
            "models. Fine-tune the full model, or merge the adapter into the weights with peft before loading.")


class PeftAdapterMixin:
    """Adapter methods of sentence-transformers models; each raises ``NotImplementedError`` with the reason.

    Example:
        >>> PeftAdapterMixin().has_peft_compatible_model()
        False
    """

    def has_peft_compatible_model(self) -> bool:
        return False

    def check_peft_compatible_model(self) -> NoReturn:
        raise NotImplementedError(_MESSAGE)

    def load_adapter(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(_MESSAGE)

    def add_adapter(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(_MESSAGE)

    def set_adapter(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(_MESSAGE)

    def disable_adapters(self) -> NoReturn:
        raise NotImplementedError(_MESSAGE)

    def enable_adapters(self) -> NoReturn:
        raise NotImplementedError(_MESSAGE)

    def active_adapters(self) -> NoReturn:
        raise NotImplementedError(_MESSAGE)

    def get_adapter_state_dict(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(_MESSAGE)

    def delete_adapter(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(_MESSAGE)
