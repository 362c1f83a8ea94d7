"""Loading the commands' models, with the ``--quantize`` option they share (building the option imports no torch)."""

from __future__ import annotations

import argparse
from typing import Any

QUANTIZE_HELP = ("run the models with int8 weights on the CPU (model.quantize('int8'): faster, embeddings at about "
                 "0.99 cosine of fp32; default: float32)")


def add_quantize_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--quantize {int8}`` to ``parser``."""
    parser.add_argument("--quantize", choices=["int8"], help=QUANTIZE_HELP)


def load_model(cls: type, name: str, quantize: str | None) -> Any:
    """``cls(name)``; with ``quantize``, on the CPU and quantized (``model.quantize(quantize)``).

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> load_model(SentenceTransformer, default_model_path(), "int8").quantized
        'int8'
    """
    if quantize is None:
        return cls(name)
    return cls(name, device="cpu").quantize(quantize)
