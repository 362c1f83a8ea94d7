"""Generate the fixtures of CrossEncoders on a causal language model with sentence-transformers 6.x (run by hand;
tests never import ST).

    /root/venv6/bin/python tests/generate_causal_reranker_fixtures.py

- ``qwen3_reranker_lm/``: a plain transformers folder of a tiny random ``Qwen3ForCausalLM`` laid out as
  Qwen3-Reranker-0.6B: token embedding and ``lm_head`` tied, and a tokenizer with ``yes`` and ``no`` tokens, so that
  ``CrossEncoder(folder)`` builds [Transformer(text-generation), LogitScore(yes, no)] by itself. Made with the
  decoder generator's ``make_hf`` (qwen3 family, the two tokens added to its special tokens).
- ``causal_reranker_golden.json``: ST 6.2's token ids and scores for pairs:
  - ``raw_*``: ``CrossEncoder(qwen3_reranker_lm)``: plain pairs (default Sigmoid, and Identity), Qwen3-Reranker's
    chat template with an instruction prompt, the same truncated at 40 tokens (the template's tail restored);
  - ``stack_<family>``: ``CrossEncoder(modules=[Transformer(<family>_causal_lm, transformer_task="text-generation"),
    LogitScore(5, 7)])`` for the six decoder families (Gemma 3 with ``final_logit_softcapping`` set to 3.0; Gemma 2
    has 3.0 in its config).

Seeded; a re-run writes the same bytes. At the end it checks that a folder embedkit saves loads in ST 6.2 with the
same scores and the reverse (printing the differences).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
sys.path.insert(0, str(HERE))

from chat_template_cases import PAIRS  # noqa: E402
from generate_decoder_fixtures import FAMILIES, make_hf  # noqa: E402

# Qwen3-Reranker's chat template as sentence-transformers' tests give it (the instruction from a system message).
QWEN3_RERANKER_TEMPLATE = """\
<|im_start|>system
Judge whether the Document meets the requirements based on the Query and the Instruct provided. \
Note that the answer can only be "yes" or "no".<|im_end|>
<|im_start|>user
<Instruct>: {{ messages | selectattr("role", "eq", "system") | map(attribute="content") | first \
| default("Given a web search query, retrieve relevant passages that answer the query") }}
<Query>: {{ messages | selectattr("role", "eq", "query") | map(attribute="content") | first }}
<Document>: {{ messages | selectattr("role", "eq", "document") | map(attribute="content") | first }}<|im_end|>
<|im_start|>assistant
<think>\n\n</think>\n\n\n"""
INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
# name -> (CrossEncoder kwargs without the folder, predict kwargs)
RAW_CASES = {
    "raw_plain": ({}, {}),
    "raw_identity": ({"activation_fn": "identity"}, {}),
    "raw_chat": ({"activation_fn": "identity", "processor_kwargs": {"chat_template": QWEN3_RERANKER_TEMPLATE},
                  "prompts": {"web_search": INSTRUCTION}, "default_prompt_name": "web_search"}, {}),
    "raw_chat_truncated": ({"activation_fn": "identity",
                            "processor_kwargs": {"chat_template": QWEN3_RERANKER_TEMPLATE},
                            "prompts": {"web_search": INSTRUCTION}, "default_prompt_name": "web_search"},
                           {"processing_kwargs": {"text": {"max_length": 40}}}),
}
STACK_FAMILIES = ("qwen3", "gemma3", "gemma2", "llama", "mistral", "qwen2")
SOFTCAP = 3.0
TRUE_ID, FALSE_ID = 5, 7


def stack_folder(family: str, work: Path) -> Path:
    """The family's ``*_causal_lm`` fixture; Gemma 3's with ``final_logit_softcapping`` set."""
    if family != "gemma3":
        return FIX / f"{family}_causal_lm"
    folder = work / "gemma3_softcap"
    shutil.copytree(FIX / "gemma3_causal_lm", folder)
    config = json.loads((folder / "config.json").read_text())
    config["final_logit_softcapping"] = SOFTCAP
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def ce_kwargs(kwargs: dict) -> dict:
    """Keyword arguments with ``"identity"`` standing for ``torch.nn.Identity()``."""
    return {k: torch.nn.Identity() if v == "identity" else v for k, v in kwargs.items()}


def record(model, predict_kwargs: dict) -> dict:
    prompt = model.prompts.get(model.default_prompt_name) if model.default_prompt_name else None
    features = model.preprocess(list(PAIRS), prompt=prompt, **predict_kwargs)
    scores = model.predict(list(PAIRS), convert_to_numpy=True, **predict_kwargs)
    return {"input_ids": features["input_ids"].tolist(), "attention_mask": features["attention_mask"].tolist(),
            "scores": np.asarray(scores, dtype=np.float64).tolist()}


def main() -> None:
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.cross_encoder.modules import LogitScore

    family = dict(FAMILIES["qwen3"], special=[*FAMILIES["qwen3"]["special"], "yes", "no"])
    folder = FIX / "qwen3_reranker_lm"
    shutil.rmtree(folder, ignore_errors=True)
    make_hf(family, "causal_lm", folder, seed=5, **{**family["lm"], "tie_word_embeddings": True})
    golden: dict[str, dict] = {}
    for name, (kwargs, predict_kwargs) in RAW_CASES.items():
        model = CrossEncoder(str(folder), **ce_kwargs(kwargs))
        assert [type(m).__name__ for m in model] == ["Transformer", "LogitScore"]
        golden[name] = record(model, predict_kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        for name in STACK_FAMILIES:
            transformer = Transformer(str(stack_folder(name, Path(tmp))), transformer_task="text-generation")
            model = CrossEncoder(modules=[transformer, LogitScore(true_token_id=TRUE_ID, false_token_id=FALSE_ID)],
                                 activation_fn=torch.nn.Identity())
            golden[f"stack_{name}"] = record(model, {})
        check_round_trips(Path(tmp), folder)
    path = FIX / "causal_reranker_golden.json"
    path.write_text(json.dumps(golden, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def check_round_trips(tmp: Path, folder: Path) -> None:
    """embedkit's save loads in ST 6.2 with the same scores, and ST's save in embedkit."""
    from sentence_transformers import CrossEncoder as STCrossEncoder

    from embedkit import CrossEncoder

    kwargs, _ = RAW_CASES["raw_chat"]
    ours = CrossEncoder(str(folder), device="cpu", **ce_kwargs(kwargs))
    ours.save(tmp / "ek_saved")
    theirs = STCrossEncoder(str(tmp / "ek_saved"), activation_fn=torch.nn.Identity())
    print("embedkit save in ST 6.2: max score difference",
          float(np.abs(theirs.predict(list(PAIRS)) - ours.predict(list(PAIRS))).max()))
    st_model = STCrossEncoder(str(folder), **ce_kwargs(kwargs))
    st_model.save(str(tmp / "st_saved"))
    back = CrossEncoder(str(tmp / "st_saved"), device="cpu", activation_fn=torch.nn.Identity())
    print("ST 6.2 save in embedkit: max score difference",
          float(np.abs(back.predict(list(PAIRS)) - st_model.predict(list(PAIRS))).max()))


if __name__ == "__main__":
    main()
