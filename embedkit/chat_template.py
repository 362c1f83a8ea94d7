"""Chat templates: read them from a model folder, render conversations to text, write them back.

A chat template is a Jinja program a tokenizer folder ships (``chat_template.jinja``, named extras under
``additional_chat_templates/``, or the older ``"chat_template"`` key of ``tokenizer_config.json``) that turns a
conversation (a list of ``{"role": ..., "content": ...}`` messages) into the text the model was trained on.
sentence-transformers 6.x renders inputs through it when a model's first module takes ``"message"`` inputs
(rerankers such as Qwen3-Reranker, LLM embedders loaded from a plain transformers folder).

Rendering follows transformers' ``apply_chat_template``: a sandboxed Jinja environment that cannot be changed by the
template, ``trim_blocks`` / ``lstrip_blocks``, loop controls, a ``tojson`` filter that keeps non-ASCII text,
``raise_exception`` / ``strftime_now`` / ``dict`` / ``namespace`` helpers, the tokenizer's special tokens
(``bos_token``, ``eos_token``, ...) as variables, and message keys whose value is None dropped. ``jinja2`` comes with
torch, so this adds no dependency. The rendered text is tokenized without the tokenizer's own special tokens (the
template writes those).

Example:
    >>> template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{{ eos_token }}"
    >>> render_chat(template, [{"role": "user", "content": "hi"}], special_tokens={"eos_token": "</s>"})
    '<user>hi</s>'
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

ChatTemplate = str | dict[str, str]
CHAT_TEMPLATE_FILE = "chat_template.jinja"
CHAT_TEMPLATE_DIR = "additional_chat_templates"
_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "


def read_chat_template(folder: str | Path, tokenizer_config: dict[str, Any]) -> ChatTemplate | None:
    """The folder's chat template: ``chat_template.jinja`` (plus ``additional_chat_templates/<name>.jinja``), else
    ``tokenizer_config.json``'s ``"chat_template"`` (a string, or a list of ``{"name", "template"}``). Several
    templates come back as a dict keyed by name (the plain one under ``"default"``); None when there is none.

    Example:
        >>> read_chat_template("/nonexistent", {"chat_template": [{"name": "default", "template": "x"}]})
        {'default': 'x'}
    """
    folder = Path(folder)
    templates: dict[str, str] = {}
    if (folder / CHAT_TEMPLATE_FILE).is_file():
        templates["default"] = (folder / CHAT_TEMPLATE_FILE).read_text(encoding="utf-8")
    if (folder / CHAT_TEMPLATE_DIR).is_dir():
        for path in sorted((folder / CHAT_TEMPLATE_DIR).glob("*.jinja")):
            templates[path.stem] = path.read_text(encoding="utf-8")
    if templates:
        return templates["default"] if list(templates) == ["default"] else templates
    configured = tokenizer_config.get("chat_template")
    if isinstance(configured, (list, tuple)):
        return {entry["name"]: entry["template"] for entry in configured}
    return configured if isinstance(configured, (str, dict)) else None


def write_chat_template(folder: str | Path, template: ChatTemplate | None) -> None:
    """Write ``template`` as transformers does: ``chat_template.jinja`` for the plain (``"default"``) one, one
    ``additional_chat_templates/<name>.jinja`` per other name.

    Raises:
        ValueError: a template name that is not a plain file name.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> write_chat_template(folder, {"default": "{{ messages[0].content }}", "rerank": "R"})
        >>> read_chat_template(folder, {})
        {'default': '{{ messages[0].content }}', 'rerank': 'R'}
    """
    if template is None:
        return
    folder = Path(folder)
    named = {"default": template} if isinstance(template, str) else dict(template)
    for name, source in named.items():
        if name == "default":
            (folder / CHAT_TEMPLATE_FILE).write_text(source, encoding="utf-8")
            continue
        if not name or Path(name).name != name or name in (".", ".."):
            raise ValueError(f"Invalid chat template name: {name!r}")
        (folder / CHAT_TEMPLATE_DIR).mkdir(exist_ok=True)
        (folder / CHAT_TEMPLATE_DIR / f"{name}.jinja").write_text(source, encoding="utf-8")


def select_template(template: ChatTemplate | None, choice: str | None = None, tools: Any = None) -> str:
    """The template source to render: ``choice`` names one of several templates or is itself a template;
    without it, ``"tool_use"`` when tools are given and the model has one, else ``"default"``.

    Raises:
        ValueError: the model has no chat template and none was given, or several and none is the default.

    Example:
        >>> select_template({"default": "a", "rerank": "b"}, "rerank")
        'b'
    """
    if isinstance(template, dict):
        if choice is not None:
            return template.get(choice, choice)
        if tools is not None and "tool_use" in template:
            return template["tool_use"]
        if "default" in template:
            return template["default"]
        raise ValueError("This model has multiple chat templates with no default specified! Please either pass a "
                         "chat template or the name of the template you wish to use to the `chat_template` argument. "
                         f"Available template names are {sorted(template)}.")
    if choice is not None:
        return choice
    if template is None:
        raise ValueError("Cannot use chat template functions because tokenizer.chat_template is not set and no "
                         "template argument was passed!")
    return template


def _environment() -> Any:
    """The sandboxed Jinja environment chat templates run in (see the module docstring)."""
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationBlock(jinja2.ext.Extension):
        """``{% generation %}...{% endgeneration %}`` marks assistant text for training masks; rendering keeps the
        body as it is."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.Scope(body).set_lineno(lineno)

    class Namespace(jinja2.utils.Namespace):
        """``namespace(...)`` that refuses underscore names (no reaching into Python internals)."""

        def __init__(*args: Any, **kwargs: Any) -> None:
            self, values = args[0], dict(*args[1:], **kwargs)
            for name in values:
                Namespace._check(name)
            jinja2.utils.Namespace.__init__(self, values)

        def __setitem__(self, name: str, value: Any) -> None:
            Namespace._check(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name: Any) -> None:
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(f"chat templates cannot store the attribute {name!r}")

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
               sort_keys: bool = False) -> str:
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationBlock, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    class Dict:
        """``dict(...)`` and ``dict.fromkeys(...)``, without the type's other attributes."""

        def __call__(self, *args: Any, **kwargs: Any) -> dict:
            return dict(*args, **kwargs)

        def fromkeys(self, *args: Any) -> dict:
            return dict.fromkeys(*args)

    env.globals.update(raise_exception=raise_exception, strftime_now=lambda fmt: datetime.now().strftime(fmt),
                       dict=Dict(), namespace=Namespace)
    return env


class CompiledTemplates:
    """Compiled chat templates by source, at most ``size`` of them (a model renders one or two).

    Example:
        >>> CompiledTemplates().get("{{ messages | length }}").render(messages=[1, 2])
        '2'
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._compiled: dict[str, Any] = {}
        self._env: Any = None

    def get(self, source: str) -> Any:
        if source not in self._compiled:
            if self._env is None:
                self._env = _environment()
            if len(self._compiled) >= self.size:
                self._compiled.pop(next(iter(self._compiled)))
            self._compiled[source] = self._env.from_string(source)
        return self._compiled[source]


def template_variables(source: str) -> set[str]:
    """Names the template reads without defining them (``messages``, ``task``, ...).

    Example:
        >>> sorted(template_variables("{% if task == 'query' %}{{ messages[0].content }}{% endif %}"))
        ['messages', 'task']
    """
    import jinja2.meta

    return set(jinja2.meta.find_undeclared_variables(_environment().parse(source)))


def render_chat(template: str, conversation: list[dict[str, Any]], special_tokens: dict[str, str] | None = None,
                add_generation_prompt: bool = False, continue_final_message: bool = False,
                compiled: CompiledTemplates | None = None, **variables: Any) -> str:
    """Render one conversation through ``template`` (a template source).

    Args:
        conversation: the messages; keys whose value is None are dropped, as transformers does.
        special_tokens: ``bos_token``, ``eos_token``, ... as the template sees them (``variables`` win).
        add_generation_prompt: ask the template for the opening of an assistant turn.
        continue_final_message: leave the last message open (the text after its content is cut off).
        compiled: where compiled templates are kept between calls (one is made when None).
        **variables: more template variables (``tools``, ``documents``, ``task``, ...).

    Raises:
        ValueError: both ``add_generation_prompt`` and ``continue_final_message``, a message that is not a dict, or
            a last message whose content the template drops.
    """
    if add_generation_prompt and continue_final_message:
        raise ValueError("continue_final_message and add_generation_prompt are not compatible. Use "
                         "continue_final_message when you want the model to continue the final message, and "
                         "add_generation_prompt when you want to add a header that will prompt it to start a new "
                         "assistant message instead.")
    messages = []
    for message in conversation:
        if not isinstance(message, dict):
            raise ValueError(f"Chat messages should be dicts, but got {message!r}.")
        messages.append({key: value for key, value in message.items() if value is not None})
    if continue_final_message:
        if not messages or not isinstance(messages[-1].get("content"), str):
            raise ValueError("continue_final_message is set but the final message has no text content to continue")
        messages[-1] = {**messages[-1], "content": messages[-1]["content"] + _CONTINUE_TAG}
    variables.setdefault("tools", None)
    variables.setdefault("documents", None)
    program = (compiled or CompiledTemplates()).get(template)
    text = program.render(**{**(special_tokens or {}), **variables}, messages=messages,
                          add_generation_prompt=add_generation_prompt)
    if continue_final_message:
        tag = text.rfind(_CONTINUE_TAG.strip())
        if tag < 0:
            raise ValueError("continue_final_message is set but the final message does not appear in the chat after "
                             "applying the chat template")
        text = text[:tag] if text.startswith(_CONTINUE_TAG, tag) else text[:tag].rstrip()
    return text
