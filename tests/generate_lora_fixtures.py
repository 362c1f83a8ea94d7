"""Generate the LoRA adapter fixtures with sentence-transformers 5.1.2 + peft 0.21.2 (run by hand; tests never import
ST or peft). transformers 5.x needs peft >= 0.22, which this environment cannot install, so the reference is ST 5.x
on transformers 4.57; both write adapters the same way (transformers' ``save_pretrained`` of a PEFT-loaded model).

    /root/venv5/bin/python tests/generate_lora_fixtures.py

Written under ``tests/fixtures/lora/``:
- ``bert_adapter/``: ``SentenceTransformer(tiny_bert_classic)`` + ``add_adapter(LoraConfig(r=4, lora_alpha=8,
  lora_dropout=0.1))`` (PEFT's default BERT targets: query, value), adapter weights set to seeded random values, saved
  by ST: an adapter-only folder (no base weights) whose ``base_model_name_or_path`` tests point at the base fixture.
- ``qwen3_adapter/``: ``[Transformer(qwen3_st), Pooling(mean)]`` + ``LoraConfig(r=2, lora_alpha=4, target_modules=
  "all-linear", exclude_modules=["o_proj"], use_rslora=True)``, weights random as above.
- ``ce_bert3_adapter/``: a CrossEncoder adapter (see :func:`cross_encoder_case`).
- ``se_bert_adapter/``: a SPLADE (SparseEncoder) adapter (see :func:`splade_case`).
- ``golden.npz``: for each case, the adapter weights PEFT drew with ``torch.manual_seed(0)`` right before
  ``add_adapter`` (``init_<case>__<name>``), the embeddings of the test texts with the adapter (``emb_<case>``) and
  with adapters disabled (``base_<case>``).

Seeded; a re-run writes the same values.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from peft import LoraConfig
from sentence_transformers import SentenceTransformer
from sentence_transformers.models import Pooling, Transformer

FIX = Path(__file__).parent / "fixtures"
OUT = FIX / "lora"
TEXTS = ["A man is eating food.", "naïve café déjà vu 東京", "", "The quick brown fox jumps over the lazy dog."]

def _for_transformers4(name: str) -> str:
    """A copy of a fixture written by transformers 5.x, as 4.x reads it: a tokenizer class 4.x has, the rotary
    base where 4.x looks for it."""
    folder = Path(tempfile.mkdtemp()) / name
    shutil.copytree(FIX / name, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    config = json.loads((folder / "config.json").read_text())
    config["rope_theta"] = config["rope_parameters"]["rope_theta"]  # 4.x reads it here (5.x from rope_parameters)
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


CASES = {
    "bert": (lambda: SentenceTransformer(str(FIX / "tiny_bert_classic"), device="cpu"),
             dict(r=4, lora_alpha=8, lora_dropout=0.1)),
    "qwen3": (lambda: SentenceTransformer(modules=[Transformer(_for_transformers4("qwen3_st")), Pooling(32, "mean")],
                                          device="cpu"),
              dict(r=2, lora_alpha=4, target_modules="all-linear", exclude_modules=["o_proj"], use_rslora=True)),
}


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    golden: dict[str, np.ndarray] = {}
    for case, (build, options) in CASES.items():
        model = build()
        assert model[0].auto_model.config.hidden_size == 32
        torch.manual_seed(0)
        model.add_adapter(LoraConfig(**options))
        for key, tensor in model.get_adapter_state_dict().items():
            golden[f"init_{case}__{key}"] = tensor.detach().numpy().copy()
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_" in name:
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
        model.eval()
        golden[f"emb_{case}"] = model.encode(TEXTS, convert_to_numpy=True)
        model.disable_adapters()
        golden[f"base_{case}"] = model.encode(TEXTS, convert_to_numpy=True)
        model.enable_adapters()
        folder = OUT / f"{case}_adapter"
        model.save(str(folder))
        (folder / "README.md").unlink()
        config = json.loads((folder / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = "BASE"  # tests point it at the base fixture
        (folder / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        if case == "qwen3":  # the base is the HF folder itself; Pooling's config is all that ST adds
            assert not (folder / "config.json").exists()
        print(case, sorted(p.name for p in folder.iterdir()))
    golden["texts"] = np.array(TEXTS)
    golden.update(cross_encoder_case())
    golden.update(splade_case())
    np.savez(OUT / "golden.npz", **golden)


def _with_random_adapter(model, config: LoraConfig, seed: int):
    """``model`` (a transformers model) with a LoRA adapter added by transformers' own ``add_adapter`` (drawn after
    ``manual_seed(0)``), its weights then set to seeded random values."""
    model = model.eval()
    torch.manual_seed(0)
    model.add_adapter(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    return model


def _tokenized(fixture: str, inputs: list) -> dict[str, torch.Tensor]:
    """``inputs`` (texts or pairs) tokenized by a fixture's tokenizer.json, padded."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(FIX / fixture / "tokenizer.json"))
    tokenizer.enable_padding(pad_id=0)
    encodings = tokenizer.encode_batch(inputs)
    return {"input_ids": torch.tensor([e.ids for e in encodings]),
            "attention_mask": torch.tensor([e.attention_mask for e in encodings]),
            "token_type_ids": torch.tensor([e.type_ids for e in encodings])}


def _save_adapter(model, name: str) -> None:
    """transformers' ``save_pretrained`` of the adapter into ``OUT/name``, its base model named ``BASE``."""
    folder = OUT / name
    model.save_pretrained(str(folder))
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "BASE"
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    print(name, sorted(p.name for p in folder.iterdir()))


def splade_case() -> dict[str, np.ndarray]:
    """``se_bert_v6`` (BertForMaskedLM under a SPLADE pooling) with LoRA on every Linear layer (the MLM head's
    transform included) through transformers 4.57's ``add_adapter``; weights random; SPLADE vectors of ``TEXTS``
    computed from the model's logits as SpladePooling does (max over real tokens of log(1 + relu(logits)));
    the adapter saved by ``save_pretrained`` into ``se_bert_adapter/``."""
    from transformers import AutoModelForMaskedLM

    model = _with_random_adapter(AutoModelForMaskedLM.from_pretrained(str(FIX / "se_bert_v6")),
                                 LoraConfig(r=2, lora_alpha=4, target_modules=["query", "value", "dense"]), seed=3)
    features = _tokenized("se_bert_v6", TEXTS)
    ids, mask = features["input_ids"], features["attention_mask"]

    def splade() -> np.ndarray:
        with torch.no_grad():
            logits = model(**features).logits  # (B, T, V)
        scores = torch.log1p(torch.relu(logits)) * mask.unsqueeze(-1)
        return scores.max(dim=1).values.numpy()

    adapted = splade()
    model.disable_adapters()
    base = splade()
    model.enable_adapters()
    _save_adapter(model, "se_bert_adapter")
    return {"se_input_ids": ids.numpy(), "se_emb": adapted, "se_base_emb": base}


PAIRS = [("A man is eating food.", "A man eats."), ("naïve café", "東京"), ("", "empty query"),
         ("The quick brown fox", "jumps over the lazy dog")]


def cross_encoder_case() -> dict[str, np.ndarray]:
    """``ce_bert3`` (a 3-label BertForSequenceClassification) with a LoRA adapter on query, value and the
    classifier, through transformers 4.57's own ``add_adapter`` (what sentence-transformers 6.x's CrossEncoder
    calls); weights random; logits of ``PAIRS`` tokenized by the fixture's tokenizer.json; the adapter saved by
    transformers' ``save_pretrained`` into ``ce_bert3_adapter/`` (adapter files only)."""
    from transformers import AutoModelForSequenceClassification

    model = _with_random_adapter(AutoModelForSequenceClassification.from_pretrained(str(FIX / "ce_bert3")),
                                 LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value", "classifier"]), seed=2)
    features = _tokenized("ce_bert3", PAIRS)
    ids = features["input_ids"]
    with torch.no_grad():
        logits = model(**features).logits
        model.disable_adapters()
        base = model(**features).logits
        model.enable_adapters()
    _save_adapter(model, "ce_bert3_adapter")
    return {"ce_pairs": np.array(PAIRS), "ce_input_ids": ids.numpy(), "ce_logits": logits.numpy(),
            "ce_base_logits": base.numpy()}


if __name__ == "__main__":
    main()
