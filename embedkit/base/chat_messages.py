"""Inputs as chat messages: how a model whose tokenizer has a chat template sees texts, pairs and prompts.

sentence-transformers 6.x gives a Transformer module the ``"message"`` modality when its tokenizer has a chat
template (and the folder does not pin a text-only ``modality_config``, as every folder saved by 5.x does). Every
input then goes through the template:

- a text becomes one ``user`` message;
- a (query, document) pair becomes a ``query`` message and a ``document`` message (rerankers' templates pick them
  out by role), and a template that would drop either is refused with the remedy, rather than scoring an empty
  prompt: this is decided by rendering probe pairs, never by reading the template;
- a prompt becomes a leading ``system`` message;
- a conversation (a list of message dicts, or one message dict) is used as it is.

Messages are *flat* (``{"role": "user", "content": "hi"}``) or *structured* (``"content": [{"type": "text", "text":
"hi"}]``), whichever the template reads (:meth:`InputFormatter.infer_format`). After tokenizing, a row truncated at
the length limit gets the template's closing tokens written back over its last tokens (:func:`restore_suffix`), since
models that read the last position (causal rerankers, last-token pooling) need them.

Example:
    >>> formatter = InputFormatter("bert", message_format="flat")
    >>> formatter.conversations(["hello", ("a question", "a passage")])[1]
    [{'role': 'query', 'content': 'a question'}, {'role': 'document', 'content': 'a passage'}]
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from embedkit.base.modality_types import InputTypeError

logger = logging.getLogger(__name__)

# Model types whose templates read flat content although their source looks structured (as sentence-transformers).
KNOWN_MODEL_TYPES_MESSAGE_FORMATS = {"apertus": "flat", "deepseek_v3": "flat", "gpt_oss": "flat", "seed_oss": "flat"}
# Template snippets that show content is read as a list of typed parts.
STRUCTURED_PATTERNS = ("content[0]", ".type", "'type'", '"type"', "item.type", "message.content[")
# The roles the two texts of a pair take, and the probe pairs: a baseline, then one pair per role changing only it.
PAIR_ROLES = ("query", "document")
PAIR_ROLE_PROBES = (("alpha", "bravo"), ("charlie", "bravo"), ("alpha", "foxtrot"))
# apply_chat_template options that size the tokenized output rather than reach the template.
SIZE_KWARGS = frozenset({"padding", "truncation", "max_length", "return_tensors"})
SUFFIX_CACHE_SIZE = 256
UNTRUNCATED = 2**31 - 1  # a length the tokenizer reads as "no truncation"


def is_message_list(value: Any) -> bool:
    """A conversation: a non-empty list of dicts that each hold ``role`` and ``content``.

    Example:
        >>> is_message_list([{"role": "user", "content": "hi"}]), is_message_list(["hi"])
        (True, False)
    """
    return (isinstance(value, (list, tuple)) and len(value) > 0
            and all(isinstance(m, dict) and "role" in m and "content" in m for m in value))


def is_text_pair(value: Any) -> bool:
    """A (query, document) text pair.

    Example:
        >>> is_text_pair(("a query", "a document")), is_text_pair(["one text"])
        (True, False)
    """
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(part, str) for part in value)


class InputFormatter:
    """Turns a batch of inputs into conversations for a chat template (see the module docstring).

    Args:
        model_type: the config's ``model_type`` (a few are known to read flat content).
        message_format: ``"flat"``, ``"structured"`` or ``"auto"`` (inferred from ``processor``'s template).
        processor: the tokenizer whose ``chat_template`` renders the messages.
        supported_modalities: accepted for signature compatibility; embedkit reads text only.

    Example:
        >>> InputFormatter("bert", message_format="structured").to_message({"text": "hi"})
        [{'role': 'user', 'content': [{'type': 'text', 'text': 'hi'}]}]
    """

    def __init__(self, model_type: str, message_format: str = "auto", processor: Any = None,
                 supported_modalities: list[Any] | None = None) -> None:
        self.model_type = model_type
        self.processor = processor
        self.supported_modalities = supported_modalities
        self._pair_role_probe: tuple[Any, str | None] | None = None
        if message_format == "auto":
            message_format = self.infer_format(processor) if processor is not None else "structured"
        if message_format not in ("flat", "structured"):
            raise ValueError(f"message_format must be 'flat', 'structured' or 'auto', got {message_format!r}")
        self.message_format = message_format

    def infer_format(self, processor: Any) -> str:
        """``"flat"`` unless the template reads typed content parts (or the model type is known to read flat);
        ``"structured"`` when the template is not one plain string."""
        if self.model_type in KNOWN_MODEL_TYPES_MESSAGE_FORMATS:
            return KNOWN_MODEL_TYPES_MESSAGE_FORMATS[self.model_type]
        template = getattr(processor, "chat_template", None)
        if not isinstance(template, str) or not template:
            return "structured"
        return "structured" if any(pattern in template for pattern in STRUCTURED_PATTERNS) else "flat"

    def to_message(self, typed_input: dict[str, Any], role: str = "user") -> list[dict[str, Any]]:
        """One message holding ``typed_input`` (``{"text": "..."}``), in this formatter's format."""
        if self.message_format == "flat" and len(typed_input) == 1:
            return [{"role": role, "content": next(iter(typed_input.values()))}]
        return [{"role": role, "content": [{"type": kind, kind: value} for kind, value in typed_input.items()]}]

    def pair_to_messages(self, pair: tuple[str, str] | list[str]) -> list[dict[str, Any]]:
        """A pair as a ``query`` message and a ``document`` message."""
        messages: list[dict[str, Any]] = []
        for role, text in zip(PAIR_ROLES, pair, strict=True):
            messages.extend(self.to_message({"text": text}, role=role))
        return messages

    def conversations(self, inputs: list[Any]) -> list[list[dict[str, Any]]]:
        """One conversation per input: texts, text pairs, message dicts and lists of them.

        Raises:
            TypeError: an input that is none of these (the message names its index and type).
        """
        out = []
        for index, item in enumerate(inputs):
            if isinstance(item, str):
                out.append(self.to_message({"text": item}))
            elif isinstance(item, dict) and "role" in item and "content" in item:
                out.append([item])
            elif is_message_list(item):
                out.append(list(item))
            elif is_text_pair(item):
                out.append(self.pair_to_messages(item))
            elif isinstance(item, (tuple, list)) and len(item) == 2 and not is_message_list(item):
                # a pair holding something else than text: its roles are checked like a text pair's, and the
                # model then refuses the content (embedkit reads text only)
                out.append([{"role": role, "content": part} for role, part in zip(PAIR_ROLES, item)])
            elif isinstance(item, dict) and set(item) == {"text"} and isinstance(item["text"], str):
                out.append(self.to_message(item))
            else:
                raise InputTypeError(f"input {index} has type {type(item).__name__}; expected str, a (str, str) pair "
                                "or chat messages")
        return out

    def prepend_prompt_to_messages(self, messages: list[list[dict[str, Any]]], prompt: str
                                   ) -> list[list[dict[str, Any]]]:
        """Each conversation with ``prompt`` as a leading ``system`` message."""
        system = self.to_message({"text": prompt}, role="system")
        return [system + list(conversation) for conversation in messages]

    @staticmethod
    def prepend_prompt_to_texts(texts: list[Any], prompt: str) -> list[Any]:
        """Texts with ``prompt`` in front (of the first text of a pair)."""
        return [prompt + text if isinstance(text, str) else [prompt + text[0], *text[1:]] for text in texts]

    @staticmethod
    def is_text_pair(value: Any) -> bool:
        return is_text_pair(value)

    @staticmethod
    def is_text_only_messages(messages_batch: list[list[dict[str, Any]]]) -> bool:
        """Whether every message's content is text (a string, or typed parts all of type ``text``)."""
        for conversation in messages_batch:
            for message in conversation:
                content = message.get("content")
                if isinstance(content, str):
                    continue
                if not isinstance(content, list) or any(not isinstance(part, dict) or part.get("type", "text") != "text"
                                                        for part in content):
                    return False
        return True

    @staticmethod
    def has_pair_roles(messages_batch: list[list[dict[str, Any]]]) -> bool:
        """Whether some conversation holds both pair roles (a lone ``query`` message is not a pair)."""
        return any(set(PAIR_ROLES) <= {message.get("role") for message in conversation}
                   for conversation in messages_batch)

    def pair_roles_failure(self, chat_template_kwargs: dict[str, Any] | None = None) -> str | None:
        """Why the chat template cannot carry a (query, document) pair, or None when it can.

        Probe pairs are rendered and compared: a role whose content does not change the text is dropped. The
        verdict is kept for the current template and options only, so fixing either on a loaded model takes effect.
        """
        template = getattr(self.processor, "chat_template", None)
        if template is None:
            return "the model has no chat template"
        kwargs = dict(chat_template_kwargs or {})
        key = (template, kwargs)
        if self._pair_role_probe is not None and self._pair_role_probe[0] == key:
            return self._pair_role_probe[1]
        try:
            base, *varied = [str(self.processor.apply_chat_template(self.pair_to_messages(pair), tokenize=False,
                                                                    **kwargs))
                             for pair in PAIR_ROLE_PROBES]
        except Exception as exc:  # any failure of the template is the answer
            failure: str | None = f"it raised {type(exc).__name__}: {exc}"
        else:
            dropped = [role for role, text in zip(PAIR_ROLES, varied) if text == base]
            failure = (f"the {' and '.join(repr(role) for role in dropped)} content does not reach the rendered "
                       "prompt") if dropped else None
        self._pair_role_probe = (copy.deepcopy(key), failure)
        return failure

    def check_pair_roles(self, messages_batch: list[list[dict[str, Any]]], chat_template_kwargs: dict[str, Any],
                         model_name: str) -> None:
        """Raise when the batch holds a pair the chat template would drop (see :meth:`pair_roles_failure`).

        Raises:
            ValueError: naming what is dropped and how to set a template that keeps both roles.
        """
        if not self.has_pair_roles(messages_batch):
            return
        probe_kwargs = {k: v for k, v in chat_template_kwargs.items() if k not in SIZE_KWARGS and k != "restore_suffix"}
        failure = self.pair_roles_failure(probe_kwargs)
        if failure is None:
            return
        if self.message_format == "structured":
            example = ('    <Query>: {{ (messages | selectattr("role", "eq", "query") | first).content[0].text }}\n'
                       '    <Document>: {{ (messages | selectattr("role", "eq", "document") | first).content[0].text '
                       '}}\n')
        else:
            example = ('    <Query>: {{ messages | selectattr("role", "eq", "query") | map(attribute="content") '
                       '| first }}\n'
                       '    <Document>: {{ messages | selectattr("role", "eq", "document") | map(attribute="content") '
                       '| first }}\n')
        raise ValueError(
            f"The chat template of {model_name} cannot carry a 'query'/'document' pair ({failure}). Pair inputs "
            "are mapped to one message per role, so set a chat template that renders both roles, e.g.:\n"
            f"{example}"
            'via `processor_kwargs={"chat_template": ...}` when loading, `model.processor.chat_template = ...` '
            "afterwards, or a `chat_template.jinja` file alongside the model.")


def message_skeleton(conversation: list[dict[str, Any]], filler: str) -> list[dict[str, Any]]:
    """The conversation with every non-system message's content replaced by ``filler`` (same format).

    Example:
        >>> message_skeleton([{"role": "system", "content": "s"}, {"role": "user", "content": "hello"}], "0")
        [{'role': 'system', 'content': 's'}, {'role': 'user', 'content': '0'}]
    """
    out = []
    for message in conversation:
        if not isinstance(message, dict) or message.get("role") == "system":
            out.append(message)
        elif isinstance(message.get("content"), list):
            out.append({**message, "content": [{"type": "text", "text": filler}]})
        else:
            out.append({**message, "content": filler})
    return out


def template_suffix_ids(tokenizer: Any, conversation: list[dict[str, Any]], template_kwargs: dict[str, Any],
                        cache: dict[str, list[int]]) -> list[int]:
    """The token ids the template writes after the last content of ``conversation`` (its "suffix").

    The skeleton is rendered with two different fillers and the longest common tail of the two token lists is the
    suffix; none when the renders never differ. Kept in ``cache`` by skeleton and options (at most
    ``SUFFIX_CACHE_SIZE`` entries). Conversations with non-text content have no suffix here.
    """
    if not conversation or not InputFormatter.is_text_only_messages([conversation]):
        return []
    key = repr((sorted(template_kwargs.items()), message_skeleton(conversation, "")))
    if key in cache:
        return cache[key]
    suffix: list[int] = []
    try:
        texts = [tokenizer.apply_chat_template(message_skeleton(conversation, filler), tokenize=False,
                                               **template_kwargs) for filler in ("0", "1 2 3 4")]
        first, second = tokenizer.encode_ids(texts, max_length=UNTRUNCATED, add_special_tokens=False)
        count = 0
        for left, right in zip(reversed(first), reversed(second)):
            if left != right:
                break
            count += 1
        if 0 < count < min(len(first), len(second)):
            suffix = first[len(first) - count:]
    except Exception as exc:  # the suffix is a repair: never let it break tokenization
        logger.debug("Could not derive the chat-template suffix: %s", exc)
    cache[key] = suffix
    if len(cache) > SUFFIX_CACHE_SIZE:
        cache.pop(next(iter(cache)))
    return suffix


def restore_suffix(features: dict[str, Any], tokenizer: Any, conversations: list[list[dict[str, Any]]],
                   template_kwargs: dict[str, Any], max_length: int, cache: dict[str, list[int]]) -> None:
    """Write each truncated row's template suffix back over its last real tokens (in place).

    Only rows whose real length reached ``max_length`` can have lost their tail; the padding side is read from the
    attention mask.
    """
    ids, mask = features["input_ids"], features["attention_mask"]
    if ids.dim() != 2 or ids.shape[1] < max_length:
        return
    lengths = mask.sum(dim=1).tolist()
    left_padded = (mask[:, 0] == 0).tolist()
    width = ids.shape[1]
    for row, conversation in enumerate(conversations):
        if lengths[row] < max_length:
            continue
        suffix = template_suffix_ids(tokenizer, conversation, template_kwargs, cache)
        keep = min(len(suffix), lengths[row])
        if keep:
            end = width if left_padded[row] else lengths[row]
            ids[row, end - keep:end] = ids.new_tensor(suffix[-keep:])
