"""Record what sentence-transformers 6.x and transformers 5.x give for chat-template inputs (run by hand; tests never
import either).

    /root/venv6/bin/python tests/generate_chat_template_fixtures.py

Writes ``fixtures/chat_template_golden.json``:

- ``render``: transformers' ``apply_chat_template`` text and token ids (RoBERTa fixture tokenizer, which has every
  special token) for each case of ``chat_template_cases.RENDER_CASES``, and the error of each raising case;
- ``cross_encoders``: CrossEncoders read from 5.x-layout copies of ``ce_bert1`` (BERT) and ``qwen3_ce`` (a decoder,
  left padding) with a chat template given at load: token ids and scores of pairs (flat and structured templates,
  a prompt as system message, a named template chosen per call, truncation with and without the suffix restore);
- ``bi_encoders``: a SentenceTransformer on the plain transformers copy of ``qwen3_st`` (chat template given at load)
  + last-token pooling: token ids and embeddings of texts, conversations, a prompt, a template reading ``task``.

No new weights: every model is an existing fixture. Deterministic; a re-run writes the same bytes.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from chat_template_cases import (  # noqa: E402
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


def render_goldens() -> dict:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(FIXTURES / "roberta_st"))
    out = []
    for template, conversation, kwargs in RENDER_CASES:
        text = tokenizer.apply_chat_template(conversation, chat_template=TEMPLATES[template], tokenize=False,
                                             **kwargs)
        ids = tokenizer.apply_chat_template(conversation, chat_template=TEMPLATES[template], tokenize=True,
                                            return_dict=True, **kwargs)["input_ids"]
        out.append({"text": text, "input_ids": list(ids)})
    errors = []
    for template, conversation, kwargs in RAISING_CASES:
        try:
            tokenizer.apply_chat_template(conversation, chat_template=TEMPLATES[template], tokenize=False, **kwargs)
        except Exception as exc:  # noqa: BLE001
            errors.append(str(exc))
        else:
            raise AssertionError("expected an error")
    return {"cases": out, "errors": errors}


def cross_encoder_goldens(tmp: Path) -> dict:
    from sentence_transformers import CrossEncoder

    out = {}
    for name, (fixture, template, ce_kwargs, predict_kwargs) in CE_CASES.items():
        folder = v5_cross_encoder_folder(fixture, tmp / f"ce_{name}")
        model = CrossEncoder(str(folder), processor_kwargs={"chat_template": template_of(template)}, **ce_kwargs)
        assert "message" in model[0].modality_config, model[0].modality_config
        prompt = model.prompts.get(model.default_prompt_name) if model.default_prompt_name else None
        features = model[0].preprocess(list(PAIRS), prompt=prompt, **predict_kwargs)
        scores = model.predict(list(PAIRS), convert_to_numpy=True, **predict_kwargs)
        out[name] = {"input_ids": features["input_ids"].tolist(),
                     "attention_mask": features["attention_mask"].tolist(),
                     "scores": np.asarray(scores, dtype=np.float64).reshape(len(PAIRS), -1).tolist()}
    folder = v5_cross_encoder_folder("ce_bert1", tmp / "ce_refused")
    model = CrossEncoder(str(folder), processor_kwargs={"chat_template": TEMPLATES["user_only"]})
    try:
        model.predict(list(PAIRS))
    except ValueError as exc:
        out["refused_message"] = str(exc).split("(", 1)[1].split(")", 1)[0]
    return out


def bi_encoder_goldens(tmp: Path) -> dict:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    out = {}
    for name, (template, what, kwargs) in BI_CASES.items():
        folder = plain_transformers_folder("qwen3_st", tmp / f"bi_{name}")
        transformer = Transformer(str(folder), processor_kwargs={"chat_template": TEMPLATES[template]})
        assert "message" in transformer.modality_config
        model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(),
                                                                  "lasttoken")], device="cpu")
        inputs = list(TEXTS) if what == "texts" else [list(c) for c in CONVERSATIONS]
        features = model.preprocess(inputs, **kwargs)
        embeddings = model.encode(inputs, convert_to_numpy=True, **kwargs)
        out[name] = {"input_ids": features["input_ids"].tolist(), "attention_mask": features["attention_mask"].tolist(),
                     "embeddings": embeddings.astype(np.float64).tolist()}
    return out


def check_embedkit_saves_in_st(tmp: Path) -> None:
    """Folders embedkit saves with a chat template load in sentence-transformers 6.x with the same outputs."""
    from sentence_transformers import CrossEncoder as STCrossEncoder

    from embedkit import CrossEncoder

    folder = v5_cross_encoder_folder("qwen3_ce", tmp / "ek_source")
    model = CrossEncoder(str(folder), processor_kwargs={"chat_template": TEMPLATES["reranker"]}, device="cpu")
    model.save(tmp / "ek_saved")
    theirs = STCrossEncoder(str(tmp / "ek_saved"))
    assert "message" in theirs[0].modality_config
    diff = np.abs(theirs.predict(list(PAIRS)) - model.predict(list(PAIRS))).max()
    print(f"embedkit-saved chat CrossEncoder in ST 6: max score difference {diff:.2e}")


def main() -> None:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        golden = {"render": render_goldens(), "cross_encoders": cross_encoder_goldens(Path(tmp)),
                  "bi_encoders": bi_encoder_goldens(Path(tmp))}
        check_embedkit_saves_in_st(Path(tmp))
    path = FIXTURES / "chat_template_golden.json"
    path.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
