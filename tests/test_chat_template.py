"""Chat templates (``embedkit.chat_template``, ``embedkit.base.chat_messages``): rendering equals transformers'
``apply_chat_template``, and models whose tokenizer has a chat template give sentence-transformers 6.x's token ids,
scores and embeddings (goldens from ``generate_chat_template_fixtures.py``)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from embedkit import CrossEncoder, SentenceTransformer
from embedkit.base.chat_messages import InputFormatter
from embedkit.base.modules import Transformer
from embedkit.chat_template import read_chat_template, render_chat, select_template, write_chat_template
from embedkit.sentence_transformer.modules import Pooling
from embedkit.tokenizer import Tokenizer
from tests.chat_template_cases import (
    BI_CASES,
    CE_CASES,
    CONVERSATIONS,
    FIXTURES,
    PAIRS,
    RAISING_CASES,
    RENDER_CASES,
    TEMPLATES,
    TEXTS,
    plain_transformers_folder,
    template_of,
    v5_cross_encoder_folder,
)

GOLDEN = json.loads((FIXTURES / "chat_template_golden.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("index", range(len(RENDER_CASES)))
def test_render_equals_transformers(index):
    template, conversation, kwargs = RENDER_CASES[index]
    tokenizer = Tokenizer(FIXTURES / "roberta_st")
    expected = GOLDEN["render"]["cases"][index]
    text = tokenizer.apply_chat_template(conversation, chat_template=TEMPLATES[template], tokenize=False, **kwargs)
    assert text == expected["text"]
    ids = tokenizer.apply_chat_template(conversation, chat_template=TEMPLATES[template], **kwargs)["input_ids"]
    assert ids[0].tolist() == expected["input_ids"]  # no special tokens added: the template writes them


def test_template_errors_are_raised_as_transformers_raises_them():
    import jinja2

    tokenizer = Tokenizer(FIXTURES / "roberta_st")
    for (template, conversation, kwargs), message in zip(RAISING_CASES, GOLDEN["render"]["errors"]):
        with pytest.raises(jinja2.TemplateError, match="must alternate"):
            tokenizer.apply_chat_template(conversation, chat_template=TEMPLATES[template], **kwargs)
        assert message.startswith("Conversation roles must alternate")


def test_sandbox_refuses_python_internals():
    import jinja2

    for source in ("{{ messages.__class__.__mro__ }}", "{{ ''.__class__.__subclasses__() }}",
                   "{% set ns = namespace() %}{% set ns._x = 1 %}", "{{ messages.append(1) }}"):
        with pytest.raises(jinja2.exceptions.SecurityError):
            render_chat(source, [{"role": "user", "content": "x"}])


@pytest.mark.parametrize("name", sorted(CE_CASES))
def test_cross_encoder_matches_sentence_transformers(name, tmp_path):
    fixture, template, ce_kwargs, predict_kwargs = CE_CASES[name]
    expected = GOLDEN["cross_encoders"][name]
    folder = v5_cross_encoder_folder(fixture, tmp_path / "model")
    model = CrossEncoder(str(folder), processor_kwargs={"chat_template": template_of(template)}, device="cpu",
                         **ce_kwargs)
    assert "message" in model[0].modality_config
    prompt = model.prompts.get(model.default_prompt_name) if model.default_prompt_name else None
    features = model.preprocess(list(PAIRS), prompt=prompt, **predict_kwargs)
    assert features["input_ids"].tolist() == expected["input_ids"]
    assert features["attention_mask"].tolist() == expected["attention_mask"]
    scores = model.predict(list(PAIRS), convert_to_numpy=True, **predict_kwargs)
    np.testing.assert_allclose(np.asarray(scores).reshape(len(PAIRS), -1), expected["scores"], atol=2e-6)


def test_truncated_rows_get_the_template_suffix_back():
    golden = GOLDEN["cross_encoders"]
    restored, cut = golden["qwen3_truncated"]["input_ids"], golden["qwen3_truncated_no_restore"]["input_ids"]
    assert all(len(row) == 48 for row in restored)  # the limit holds
    assert restored != cut  # the golden pair can tell the two apart
    tokenizer = Tokenizer(FIXTURES / "qwen3_ce")
    assert tokenizer.decode(restored[0], skip_special_tokens=False).endswith("<|im_end|>\n<|im_start|>assistant")
    assert "<|im_start|>assistant" not in tokenizer.decode(cut[0], skip_special_tokens=False)


@pytest.mark.parametrize("name", sorted(BI_CASES))
def test_bi_encoder_matches_sentence_transformers(name, tmp_path):
    template, what, kwargs = BI_CASES[name]
    expected = GOLDEN["bi_encoders"][name]
    folder = plain_transformers_folder("qwen3_st", tmp_path / "model")
    transformer = Transformer(str(folder), processor_kwargs={"chat_template": TEMPLATES[template]})
    assert transformer.modality_config["message"]["format"] == ("structured" if "structured" in template else "flat")
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), "lasttoken")],
                                device="cpu")
    inputs = list(TEXTS) if what == "texts" else [list(c) for c in CONVERSATIONS]
    features = model.preprocess(inputs, **kwargs)
    assert features["input_ids"].tolist() == expected["input_ids"]
    assert features["attention_mask"].tolist() == expected["attention_mask"]
    embeddings = model.encode(inputs, convert_to_numpy=True, **kwargs)
    np.testing.assert_allclose(embeddings, expected["embeddings"], atol=2e-5)


def test_a_template_that_drops_a_pair_is_refused_with_the_remedy(tmp_path):
    folder = v5_cross_encoder_folder("qwen3_ce", tmp_path / "model")
    model = CrossEncoder(str(folder), processor_kwargs={"chat_template": TEMPLATES["user_only"]}, device="cpu")
    assert model[0].input_formatter.pair_roles_failure() == GOLDEN["cross_encoders"]["refused_message"]
    with pytest.raises(ValueError, match="cannot carry a 'query'/'document' pair") as error:
        model.predict(list(PAIRS))
    assert "processor_kwargs" in str(error.value) and "chat_template.jinja" in str(error.value)
    single = model[0].preprocess(["a solo text"])  # single texts take no pair roles
    assert "a solo text" in model.tokenizer.decode(single["input_ids"][0].tolist())
    model.processor.chat_template = TEMPLATES["reranker"]  # the remedy takes effect on the loaded model
    assert model[0].input_formatter.pair_roles_failure() is None
    assert model.predict(list(PAIRS)).shape == (len(PAIRS),)


def test_a_template_raising_on_pairs_is_reported(tmp_path):
    folder = v5_cross_encoder_folder("ce_bert1", tmp_path / "model")
    model = CrossEncoder(str(folder), processor_kwargs={"chat_template": "{{ raise_exception('no pairs') }}"},
                         device="cpu")
    with pytest.raises(ValueError, match="it raised TemplateError: no pairs"):
        model.predict(list(PAIRS))


def test_saved_folders_pin_their_modalities(tmp_path):
    """sentence-transformers folders name their modalities: a 5.x/6.x text-only folder stays text only even with a
    chat template; a folder embedkit saves with the message modality keeps it, with its template."""
    model = CrossEncoder(str(FIXTURES / "qwen3_ce"), processor_kwargs={"chat_template": TEMPLATES["reranker"]},
                         device="cpu")
    assert "message" not in model[0].modality_config  # pinned text-only by its sentence_bert_config.json
    folder = v5_cross_encoder_folder("qwen3_ce", tmp_path / "v5")
    chat = CrossEncoder(str(folder), processor_kwargs={"chat_template": TEMPLATES["reranker"]}, device="cpu")
    chat.save(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "sentence_bert_config.json").read_text())
    assert saved["modality_config"]["message"]["format"] == "flat"
    assert (tmp_path / "saved" / "chat_template.jinja").read_text() == TEMPLATES["reranker"]
    assert "chat_template" not in json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    reloaded = CrossEncoder(str(tmp_path / "saved"), device="cpu")
    np.testing.assert_array_equal(reloaded.predict(list(PAIRS)), chat.predict(list(PAIRS)))


def test_plain_folders_infer_the_message_modality_only_with_a_template(tmp_path):
    folder = plain_transformers_folder("qwen3_st", tmp_path / "model")
    assert "message" not in Transformer(str(folder)).modality_config
    (folder / "chat_template.jinja").write_text(TEMPLATES["chatml"])
    transformer = Transformer(str(folder))
    assert transformer.modality_config["message"] == {"method": "forward", "method_output_name": "last_hidden_state",
                                                      "format": "flat"}
    ids = transformer.preprocess(["hi"])["input_ids"][0].tolist()
    assert transformer.tokenizer.decode(ids, skip_special_tokens=False) == "<|im_start|>user\nhi<|im_end|>\n"


def test_template_files_round_trip(tmp_path):
    templates = {"default": TEMPLATES["chatml"], "rerank": TEMPLATES["reranker"]}
    write_chat_template(tmp_path, templates)
    assert sorted(p.name for p in (tmp_path / "additional_chat_templates").iterdir()) == ["rerank.jinja"]
    assert read_chat_template(tmp_path, {}) == templates
    assert read_chat_template(tmp_path / "none", {"chat_template": "x"}) == "x"
    assert read_chat_template(tmp_path / "none", {}) is None
    with pytest.raises(ValueError, match="Invalid chat template name"):
        write_chat_template(tmp_path, {"../escape": "x"})
    assert select_template(templates, None) == TEMPLATES["chatml"]
    assert select_template(templates, "rerank") == TEMPLATES["reranker"]
    assert select_template("t", "{{ 1 }}") == "{{ 1 }}"
    with pytest.raises(ValueError, match="multiple chat templates with no default"):
        select_template({"a": "x", "b": "y"})
    with pytest.raises(ValueError, match="chat_template is not set"):
        select_template(None)


def test_tokenizer_keeps_its_template_through_pickle_and_save(tmp_path):
    tokenizer = Tokenizer(FIXTURES / "qwen3_ce")
    assert tokenizer.chat_template is None
    tokenizer.chat_template = TEMPLATES["chatml"]
    copy = pickle.loads(pickle.dumps(tokenizer))
    conversation = [{"role": "user", "content": "hi"}]
    assert copy.apply_chat_template(conversation, tokenize=False) == "<|im_start|>user\nhi<|im_end|>\n"
    tokenizer.save(tmp_path)
    assert Tokenizer(tmp_path).chat_template == TEMPLATES["chatml"]


def test_input_formatter_builds_every_kind_of_input():
    """Every input kind the message modality takes: a text, a text pair (tuple or list), one message dict, a
    conversation, a ``{"text": ...}`` dict; a prompt as system message; anything else refused by index."""
    flat = InputFormatter("qwen3", message_format="flat")
    message = {"role": "user", "content": "m"}
    assert flat.conversations(["t", ("q", "d"), ["q", "d"], message, [message, message], {"text": "x"}]) == [
        [{"role": "user", "content": "t"}],
        [{"role": "query", "content": "q"}, {"role": "document", "content": "d"}],
        [{"role": "query", "content": "q"}, {"role": "document", "content": "d"}],
        [message], [message, message], [{"role": "user", "content": "x"}]]
    assert flat.prepend_prompt_to_messages([[message]], "p") == [[{"role": "system", "content": "p"}, message]]
    structured = InputFormatter("qwen3", message_format="structured")
    assert structured.pair_to_messages(("q", "d"))[1] == {"role": "document",
                                                         "content": [{"type": "text", "text": "d"}]}
    with pytest.raises(TypeError, match="input 1 has type int"):
        flat.conversations(["ok", 3])
    assert InputFormatter("gpt_oss", processor=type("P", (), {"chat_template": "content[0]"})()).message_format == \
        "flat"  # a model type known to read flat content


def test_pair_role_probe_follows_template_changes():
    tokenizer = Tokenizer(FIXTURES / "qwen3_ce")
    tokenizer.chat_template = TEMPLATES["user_only"]
    formatter = InputFormatter("qwen3", processor=tokenizer)
    assert "'query' and 'document'" in formatter.pair_roles_failure()
    tokenizer.chat_template = {"default": TEMPLATES["user_only"], "rerank": TEMPLATES["reranker"]}
    assert formatter.pair_roles_failure({"chat_template": "rerank"}) is None
    assert formatter.pair_roles_failure() is not None  # the default one still drops them
    tokenizer.chat_template = None
    assert formatter.pair_roles_failure() == "the model has no chat template"


def test_messages_are_refused_without_the_message_modality():
    model = SentenceTransformer(str(FIXTURES / "qwen3_st"), device="cpu")
    with pytest.raises((ValueError, TypeError), match="message"):
        model.encode([[{"role": "user", "content": "hi"}]])


def test_encode_takes_one_conversation_as_one_input(tmp_path):
    folder = plain_transformers_folder("qwen3_st", tmp_path / "model")
    transformer = Transformer(str(folder), processor_kwargs={"chat_template": TEMPLATES["chatml"]})
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), "lasttoken")],
                                device="cpu")
    conversation = CONVERSATIONS[1]
    one = model.encode(conversation)
    assert one.shape == (transformer.get_embedding_dimension(),)
    torch.testing.assert_close(torch.from_numpy(one), torch.from_numpy(model.encode([conversation])[0]))


def test_non_text_content_is_refused_after_the_pair_check(tmp_path):
    """A pair holding something else than text takes the pair roles (so a template dropping them is reported
    first, as in sentence-transformers); with a template that keeps them, the non-text content is refused."""
    folder = v5_cross_encoder_folder("qwen3_ce", tmp_path / "model")
    model = CrossEncoder(str(folder), processor_kwargs={"chat_template": TEMPLATES["user_only"]}, device="cpu")
    picture = object()
    with pytest.raises(ValueError, match="cannot carry a 'query'/'document' pair"):
        model[0].preprocess([(picture, "a document"), ("a query", "a document")])
    model.processor.chat_template = TEMPLATES["reranker"]
    with pytest.raises(ValueError, match="input 0: .* reads text only"):
        model[0].preprocess([(picture, "a document")])
    with pytest.raises(ValueError, match="input 0: .* reads text only"):
        model[0].preprocess([[{"role": "user", "content": [{"type": "image", "image": picture}]}]])
