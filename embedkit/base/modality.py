"""Modality detection for model inputs (sentence-transformers 6.x ``base.modality``), text-only in embedkit.

sentence-transformers 6.x decides per batch whether inputs are text, images, audio, video, chat messages or a
combination, from their Python types alone. embedkit uses the same rules so that it can tell a text batch from
anything else and refuse the latter with the same guidance sentence-transformers gives
(:func:`raise_unsupported_modality_error`). Nothing here decodes media.

Example:
    >>> from embedkit.base.modality import infer_batch_modality, infer_modality
    >>> infer_modality("a sentence"), infer_modality(("query", "passage"))
    ('text', 'text')
    >>> infer_modality({"text": "a caption", "image": "cat.png"})
    ('image', 'text')
    >>> infer_batch_modality([{"role": "user", "content": "hi"}])
    'message'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, NoReturn
from urllib.parse import urlparse

from embedkit.base.chat_messages import InputFormatter  # noqa: F401 (sentence-transformers 6.x's import path)
from embedkit.base.modality_types import (
    MULTIMODAL_DICT_KEYS,
    SUPPORTED_MODALITIES,
    Modality,
)

_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tiff", ".webp")
_VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".wmv", ".flv", ".mkv")
_AUDIO_EXTENSIONS = (".mp3", ".wav", ".ogg", ".flac", ".aac")
_VIDEO_HOSTS = frozenset({"www.youtube.com", "youtube.com", "youtu.be", "m.youtube.com"})


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://")) and " " not in text


def _names_media(text: str, extensions: tuple[str, ...]) -> bool:
    """A URL whose path ends in one of ``extensions``, or an existing local file with such a name."""
    if _is_url(text):
        try:
            return urlparse(text).path.lower().endswith(extensions)
        except ValueError:  # malformed URL such as "https://[["
            return False
    return text.lower().endswith(extensions) and os.path.isfile(text)


def is_image_url_or_path(text: str) -> bool:
    """True for an image data URI, an image URL, or an existing local image file."""
    return text.startswith("data:image/") or _names_media(text, _IMAGE_EXTENSIONS)


def is_video_url_or_path(text: str) -> bool:
    """True for a video URL or file (by extension), or a YouTube URL."""
    if _names_media(text, _VIDEO_EXTENSIONS):
        return True
    if not _is_url(text):
        return False
    try:
        return urlparse(text).netloc in _VIDEO_HOSTS
    except ValueError:
        return False


def is_audio_url_or_path(text: str) -> bool:
    """True for an audio URL or existing local audio file (by extension)."""
    return _names_media(text, _AUDIO_EXTENSIONS)


def is_message_dict(value: Any) -> bool:
    """True for one chat message: a dict holding ``role`` and ``content``."""
    return isinstance(value, dict) and "role" in value and "content" in value


def _is_non_text_pair(sample: Any) -> bool:
    """True for a 2-item tuple/list that is not a (str, str) text pair and holds no chat messages."""
    if not isinstance(sample, (tuple, list)) or len(sample) != 2:
        return False
    if all(isinstance(x, str) for x in sample):
        return False
    for item in sample:
        if is_message_dict(item) or (isinstance(item, list) and item and isinstance(item[0], dict)):
            return False
    return True


def _array_modality(ndim: int) -> str:
    if ndim in (1, 2):
        return "audio"
    if ndim == 3:
        return "image"
    if ndim in (4, 5):
        return "video"
    raise ValueError(
        f"Unsupported tensor dimensionality: {ndim}D. Expected 1-2D for audio, 3D for image, or 4-5D for video."
    )


def _string_modality(text: str, supported_modalities: Sequence[Modality] | None) -> str:
    if supported_modalities is not None and not {"image", "video", "audio"} & set(supported_modalities):
        return "text"  # what the checks below conclude for a model that takes no media: skip the path parsing
    for name, check in (("image", is_image_url_or_path), ("video", is_video_url_or_path),
                        ("audio", is_audio_url_or_path)):
        if check(text):
            return "text" if supported_modalities is not None and name not in supported_modalities else name
    return "text"


def _dict_modality(sample: dict) -> Modality:
    if "array" in sample:
        if "sampling_rate" in sample:
            return "audio"
        if "video_metadata" in sample:
            return "video"
        raise ValueError(
            "Dict input with 'array' key must also include 'sampling_rate' (for audio) or 'video_metadata' "
            f"(for video). Got keys: {sorted(sample, key=str)}"
        )
    if not sample:
        raise ValueError("Empty dict input is not a valid input sample.")
    unknown = set(sample) - MULTIMODAL_DICT_KEYS
    if unknown:
        raise ValueError(
            f"Multimodal dict input contains unrecognized modality keys: {sorted(unknown, key=str)}. "
            f"Expected keys from: {sorted(MULTIMODAL_DICT_KEYS)}."
        )
    return next(iter(sample)) if len(sample) == 1 else tuple(sorted(sample))


def infer_modality(sample: Any, supported_modalities: Sequence[Modality] | None = None) -> Modality:
    """The modality of one input, from its type and structure only.

    Strings are text unless they name an image/video/audio URL or file of a modality listed in
    ``supported_modalities`` (when given); (str, str) pairs are text; dicts with ``role``/``content`` (or lists
    of them) are ``"message"``; multimodal dicts give their key (one key) or the sorted tuple of keys; arrays and
    tensors are audio (1-2D), image (3D) or video (4-5D).

    Raises:
        ValueError: the input's type or structure matches no modality.
    """
    type_name = type(sample).__name__
    module = type(sample).__module__ or ""
    if module.startswith("PIL."):
        return "image"
    if type_name == "AudioDecoder":
        return "audio"
    if type_name == "VideoDecoder":
        return "video"
    if isinstance(sample, str):
        return _string_modality(sample, supported_modalities)
    if isinstance(sample, (tuple, list)) and len(sample) == 2 and all(isinstance(x, str) for x in sample):
        return "text"
    if is_message_dict(sample) or (isinstance(sample, list) and sample and is_message_dict(sample[0])):
        return "message"
    if isinstance(sample, dict):
        return _dict_modality(sample)
    ndim = getattr(sample, "ndim", None)
    if isinstance(ndim, int) and hasattr(sample, "shape"):  # numpy array or torch tensor
        return _array_modality(ndim)
    raise ValueError(
        f"Unsupported input type: {type_name}. Expected one of: str, dict, PIL.Image.Image, np.ndarray, torch.Tensor"
    )


def infer_batch_modality(samples: Sequence[Any], supported_modalities: Sequence[Modality] | None = None) -> Modality:
    """The shared modality of a batch; ``"message"`` for a batch mixing modalities; ``"text"`` when empty."""
    if not samples:
        return "text"
    found = {infer_modality(sample, supported_modalities=supported_modalities) for sample in samples}
    return found.pop() if len(found) == 1 else "message"


def format_modality(modality: Modality) -> str:
    """Display form of a modality: ``("image", "text")`` -> ``"image+text"``."""
    return "+".join(modality) if isinstance(modality, tuple) else modality


def raise_unsupported_modality_error(inputs: Sequence[Any], modality: Modality,
                                     supported_modalities: Sequence[Modality], source: str) -> NoReturn:
    """Raise the ValueError explaining why ``modality`` cannot be handled by ``source``.

    Args:
        inputs: the batch, re-inspected to tell chat messages from a batch that mixes modalities.
        modality: the batch modality that was refused.
        supported_modalities: what ``source`` handles.
        source: the refusing component as used in the message, e.g. ``"Transformer module"``.

    Raises:
        ValueError: always.
    """
    supported = ", ".join(format_modality(m) for m in supported_modalities)
    if modality == "message":
        try:
            per_sample = {infer_modality(x, supported_modalities=supported_modalities) for x in inputs}
        except (ValueError, TypeError):
            per_sample = set()
        chat = ("does not support chat-style 'message' inputs (dicts or lists of dicts with 'role' and 'content')")
        if per_sample == {"message"}:
            raise ValueError(f"This {source} {chat}. Supported modalities: {supported}.")
        if "message" in per_sample:
            raise ValueError(f"This {source} {chat}, which this batch mixes with other modalities. "
                             f"Supported modalities: {supported}.")
        if per_sample:
            present = ", ".join(format_modality(m) for m in sorted(per_sample, key=format_modality))
            parts = {p for m in per_sample for p in (m if isinstance(m, tuple) else (m,))}
            missing = sorted(p for p in parts if p not in supported_modalities)
            if missing:
                raise ValueError(f"This batch mixes multiple modalities ({present}), but this {source} does not "
                                 f"support {', '.join(missing)}. Supported modalities: {supported}.")
            raise ValueError(f"This batch mixes multiple modalities ({present}), which this {source} cannot encode "
                             "in a single batch. Encode each modality separately (one call per modality).")
    if isinstance(modality, tuple) and all(part in supported_modalities for part in modality):
        raise ValueError(f"This {source} supports {' and '.join(modality)} individually, but cannot combine them "
                         "in a single input. Encode each modality separately (one call per modality).")
    raise ValueError(f"Modality '{format_modality(modality)}' is not supported by this {source}. "
                     f"Supported modalities: {supported}.")


def check_text_modality(inputs: Sequence[Any], source: str, modality: Modality | None = None) -> None:
    """Raise the sentence-transformers error unless ``inputs`` (or the given ``modality``) are text.

    Example:
        >>> check_text_modality(["hello", ("a", "b")], "Transformer module")
        >>> check_text_modality([{"role": "user", "content": "hi"}], "Transformer module")
        Traceback (most recent call last):
        ...
        ValueError: This Transformer module does not support chat-style 'message' inputs (dicts or lists of dicts
        with 'role' and 'content'). Supported modalities: text.
    """
    if modality is None:
        modality = infer_batch_modality(inputs, supported_modalities=list(SUPPORTED_MODALITIES))
    if modality not in SUPPORTED_MODALITIES:
        raise_unsupported_modality_error(inputs, modality, list(SUPPORTED_MODALITIES), source)
