"""Input-type aliases and modality names shared by models and modules (sentence-transformers 6.x ``modality_types``).

embedkit embeds text only. The names of the other modalities exist so that code written against
sentence-transformers 6.x imports and type-checks; any non-text input is refused with a clear error
(see :func:`embedkit.base.modality.raise_unsupported_modality_error`).

Example:
    >>> from typing import get_args
    >>> from embedkit.base.modality_types import Modality, MODALITY_TO_PROCESSOR_ARG
    >>> get_args(get_args(Modality)[0])
    ('text', 'image', 'audio', 'video', 'message')
    >>> MODALITY_TO_PROCESSOR_ARG["image"]
    'images'
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, Union

from embedkit.util.input_errors import InputTypeError  # noqa: F401 (raised for inputs of another type)

# Media types are never decoded by embedkit: they are named as ``Any`` so no optional package is needed.
TextInput = str
ImageInput = Any
AudioInput = Any
VideoInput = Any


class AudioDict(TypedDict):
    """A waveform with its sampling rate (an audio input of sentence-transformers; not embedded by embedkit)."""

    array: Any
    sampling_rate: int


class VideoDict(TypedDict):
    """Video frames with their metadata (a video input of sentence-transformers; not embedded by embedkit)."""

    array: Any
    video_metadata: dict[str, Any] | None


class MessageDict(TypedDict):
    """One chat message: ``{"role": ..., "content": ...}``."""

    role: str
    content: str | list[dict[str, Any]]


MessageInput = Union[MessageDict, list[MessageDict]]


class MultimodalInput(TypedDict, total=False):
    """One input made of several modalities, keyed by modality name."""

    text: Any
    image: Any
    audio: Any
    video: Any


SingleInput = Union[TextInput, MessageInput, MultimodalInput, Any]
PairableInput = Union[TextInput, MultimodalInput, Any]
PairInput = Union[tuple[PairableInput, PairableInput], list[PairableInput]]

#: A single modality name, or a sorted tuple of names for an input combining several modalities.
Modality = Union[
    Literal["text", "image", "audio", "video", "message"],
    tuple[Literal["text", "image", "audio", "video"], ...],
]

ProcessorArgName = Literal["text", "images", "audio", "videos", "message"]
MessageFormat = Literal["auto", "structured", "flat"]

#: Modality -> the keyword a Hugging Face processor takes it under.
MODALITY_TO_PROCESSOR_ARG: dict[str, str] = {
    "text": "text",
    "image": "images",
    "audio": "audio",
    "video": "videos",
    "message": "message",
}

#: Keys allowed in a multimodal dict input.
MULTIMODAL_DICT_KEYS = frozenset({"text", "image", "audio", "video"})

#: The only modality embedkit embeds.
SUPPORTED_MODALITIES: tuple[str, ...] = ("text",)

