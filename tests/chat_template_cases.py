"""Chat templates, conversations and model cases shared by ``generate_chat_template_fixtures.py`` (which records
what sentence-transformers 6.x / transformers 5.x give) and ``test_chat_template.py`` (which checks embedkit gives the
same). The templates are written for these tests; each exercises constructs real model templates use."""

from __future__ import annotations

import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

# Echoes every role (ChatML, as SmolLM2 / Qwen2 instruct).
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' "
          "+ '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
# A reranker template picking the pair roles (flat content), with an instruction from a system message.
RERANKER = (
    "<|im_start|>system\nJudge the document.<|im_end|>\n<|im_start|>user\n"
    "<Instruct>: {{ messages | selectattr('role', 'eq', 'system') | map(attribute='content') | first "
    "| default('Find relevant passages') }}\n"
    "<Query>: {{ messages | selectattr('role', 'eq', 'query') | map(attribute='content') | first }}\n"
    "<Document>: {{ messages | selectattr('role', 'eq', 'document') | map(attribute='content') | first }}"
    "<|im_end|>\n<|im_start|>assistant\n"
)
# The same for structured content (typed parts).
STRUCTURED_RERANKER = (
    "<Query>: {{ (messages | selectattr('role', 'eq', 'query') | first).content[0].text }}\n"
    "<Document>: {{ (messages | selectattr('role', 'eq', 'document') | first).content[0].text }} END"
)
# Only user turns: drops a pair's roles.
USER_ONLY = ("{% for message in messages %}{% if message['role'] == 'user' %}<|user|>\n{{ message['content'] }}\n"
             "{% endif %}{% endfor %}")
# Qwen-3-like: whitespace control, a namespace walked backwards, string methods, tools through tojson, a variable the
# caller may set (enable_thinking), a generation block.
QWEN_LIKE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0].role == 'system' %}{{- messages[0].content + '\\n\\n' }}{%- endif %}
    {{- "# Tools\\n<tools>" }}
    {%- for tool in tools %}{{- "\\n" }}{{- tool | tojson }}{%- endfor %}
    {{- "\\n</tools><|im_end|>\\n" }}
{%- elif messages[0].role == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
{%- endif %}
{%- set ns = namespace(last_query=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if message.role == 'user' and not message.content.startswith('<tool_response>') %}
        {%- set ns.last_query = index %}{% break %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.role == 'user' or (message.role == 'system' and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content.strip() + '<|im_end|>\\n' }}
    {%- elif message.role == 'assistant' %}
        {%- if loop.index0 > ns.last_query and message.reasoning_content is defined %}
            {{- '<|im_start|>assistant\\n<think>\\n' + message.reasoning_content + '\\n</think>\\n\\n' }}
        {%- else %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
        {% generation %}{{- message.content + '<|im_end|>\\n' }}{% endgeneration %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}
{%- endif %}"""
# Llama-2-like: the bos token variable, roles checked with raise_exception, a system prompt folded into the first turn.
LLAMA2_LIKE = """{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}\
{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}\
{% set system_message = false %}{% endif %}{% for message in loop_messages %}\
{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\
{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}\
{% if loop.index0 == 0 and system_message != false %}\
{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}\
{% else %}{% set content = message['content'] %}{% endif %}\
{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}\
{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"""
# Structured content walked part by part, and a task variable (query/document renders differ).
STRUCTURED_TASK = """{% for message in messages %}<{{ message.role }}>
{% for part in message.content %}{% if part.type == 'text' %}{{ part.text }}{% endif %}{% endfor %}
{% endfor %}{% if task == 'query' %}[Q]{% elif task == 'document' %}[D]{% endif %}<end>"""

TEMPLATES = {"chatml": CHATML, "reranker": RERANKER, "structured_reranker": STRUCTURED_RERANKER,
             "user_only": USER_ONLY, "qwen_like": QWEN_LIKE, "llama2_like": LLAMA2_LIKE,
             "structured_task": STRUCTURED_TASK}

TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look up a word: «ü» 中文",
                                         "parameters": {"type": "object", "properties": {}}}}
# (template, conversation, apply_chat_template keyword arguments) whose rendered text is compared.
RENDER_CASES = [
    ("chatml", [{"role": "user", "content": "Hello there"}], {}),
    ("chatml", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "héllo 中文 😀"}],
     {"add_generation_prompt": True}),
    ("qwen_like", [{"role": "user", "content": "  What is BM25?  "}], {"add_generation_prompt": True}),
    ("qwen_like", [{"role": "user", "content": "q"}], {"add_generation_prompt": True, "enable_thinking": False}),
    ("qwen_like", [{"role": "system", "content": "sys"}, {"role": "user", "content": "first"},
                   {"role": "assistant", "content": "answer", "reasoning_content": "because"},
                   {"role": "user", "content": "<tool_response>ok</tool_response>"},
                   {"role": "assistant", "content": "done", "reasoning_content": None}], {"tools": [TOOL]}),
    ("llama2_like", [{"role": "system", "content": "You help."}, {"role": "user", "content": " hi "},
                     {"role": "assistant", "content": "hello"}, {"role": "user", "content": "bye"}], {}),
    ("structured_task", [{"role": "user", "content": [{"type": "text", "text": "part one "},
                                                      {"type": "text", "text": "part two"}]}], {"task": "query"}),
    ("chatml", [{"role": "user", "content": "continue me"}], {"continue_final_message": True}),
]
# Conversations the template refuses: the error is checked, not the text.
RAISING_CASES = [("llama2_like", [{"role": "assistant", "content": "I start"}], {})]

PAIRS = [("How many people live in Berlin?", "Berlin has a population of 3,520,031 registered inhabitants."),
         ("How many people live in Berlin?", "Berlin is well known for its museums."),
         ("what is a cat", "A small domesticated carnivorous mammal with soft fur, a short snout, and retractable "
                           "claws, kept as a pet or for catching mice.")]
TEXTS = ["A man is eating food.", "The new movie is awesome", "héllo 中文 😀, and a somewhat longer sentence to pad"]
CONVERSATIONS = [[{"role": "user", "content": "A question about cats"}],
                 [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Dogs?"},
                  {"role": "assistant", "content": "They bark."}, {"role": "user", "content": "Birds?"}]]

# name -> (fixture, template (a name, or a dict of names), CrossEncoder kwargs, predict kwargs)
CE_CASES = {
    "bert_reranker": ("ce_bert1", "reranker", {}, {}),
    "bert_structured": ("ce_bert1", "structured_reranker", {}, {}),
    "qwen3_reranker": ("qwen3_ce", "reranker", {}, {}),
    "qwen3_reranker_prompt": ("qwen3_ce", "reranker", {"prompts": {"web": "Find the population"},
                                                       "default_prompt_name": "web"}, {}),
    "qwen3_named": ("qwen3_ce", {"default": "user_only", "rerank": "reranker"}, {},
                    {"processing_kwargs": {"chat_template": {"chat_template": "rerank"}}}),
    "qwen3_truncated": ("qwen3_ce", "reranker", {}, {"processing_kwargs": {"text": {"max_length": 48}}}),
    "qwen3_truncated_no_restore": ("qwen3_ce", "reranker", {},
                                   {"processing_kwargs": {"text": {"max_length": 48},
                                                          "chat_template": {"restore_suffix": False}}}),
}
# name -> (template, what to encode, encode kwargs)
BI_CASES = {
    "texts": ("qwen_like", "texts", {}),
    "conversations": ("qwen_like", "conversations", {}),
    "prompt": ("qwen_like", "texts", {"prompt": "Instruct: find similar sentences"}),
    "generation_prompt": ("qwen_like", "texts",
                          {"processing_kwargs": {"chat_template": {"add_generation_prompt": True,
                                                                   "enable_thinking": False}}}),
    "query_task": ("structured_task", "texts", {"task": "query"}),
    "document_task": ("structured_task", "texts", {"task": "document"}),
    "truncated": ("chatml", "texts", {"processing_kwargs": {"text": {"max_length": 30},
                                                            "chat_template": {"add_generation_prompt": True}}}),
}


def template_of(spec):
    return TEMPLATES[spec] if isinstance(spec, str) else {name: TEMPLATES[t] for name, t in spec.items()}


def v5_cross_encoder_folder(source: str, target: Path) -> Path:
    """A copy of the CrossEncoder fixture ``source`` as sentence-transformers 5.x lays it out (no modules.json), so
    the modalities are inferred from the tokenizer."""
    shutil.copytree(FIXTURES / source, target)
    for name in ("modules.json", "sentence_bert_config.json"):
        (target / name).unlink(missing_ok=True)
    return target


def plain_transformers_folder(source: str, target: Path) -> Path:
    """The root of the bi-encoder fixture ``source`` without its sentence-transformers files (a plain transformers
    folder)."""
    target.mkdir(parents=True)
    for path in (FIXTURES / source).iterdir():
        if path.is_file() and path.name not in ("modules.json", "sentence_bert_config.json",
                                                "config_sentence_transformers.json", "README.md"):
            shutil.copyfile(path, target / path.name)
    return target
