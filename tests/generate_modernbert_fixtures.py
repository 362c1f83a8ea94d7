"""Generate the ModernBERT parity fixtures with sentence-transformers 6.x (run by hand; tests never import ST).

    /root/venv6/bin/python tests/generate_modernbert_fixtures.py

Tiny random ModernBERT checkpoints written by transformers (hidden 32, 4 layers: layers 0 and 3 global, 1 and 2
sliding-window with ``local_attention=8``, so the window matters on the long texts; max_position_embeddings 128)
with a tiny byte-level BPE ``tokenizer.json`` built with ``tokenizers`` ([CLS] A [SEP] (B [SEP]), no token types):

- ``modernbert_st/``      SentenceTransformer: Transformer + mean Pooling + Normalize (no biases, as released models);
- ``modernbert_ce_cls/``  CrossEncoder, ModernBertForSequenceClassification, num_labels 1, ``classifier_pooling=cls``;
- ``modernbert_ce_mean/`` CrossEncoder, num_labels 2, ``classifier_pooling=mean``, every bias option on
  (``attention_bias``, ``mlp_bias``, ``norm_bias``, ``classifier_bias``);
- ``modernbert_se/``      SparseEncoder: MLMTransformer (ModernBertForMaskedLM, tied decoder + bias) + SpladePooling;
- ``modernbert_golden.npz`` ST 6's token ids, embeddings, CrossEncoder scores and SPLADE vectors on TINY_TEXTS.

Attention runs as ``eager`` in fp32 on CPU. Seeded: a re-run reproduces every file byte for byte. At the end it
checks that folders saved by embedkit load in ST 6 with the same outputs (printing the max differences).
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
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from generate_fixtures import PAIRS, TINY_TEXTS  # noqa: E402
from generator_tools import bi_encoder_goldens, file_digests, save_npz  # noqa: E402

EAGER = {"attn_implementation": "eager"}
SPECIAL = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]  # ids 0..4
CORPUS = [
    "The quick brown fox jumps over the lazy dog.", "A man is eating food.", "Paris is the capital of France.",
    "In the beginning there was a very long sentence that goes on and on.", "Hello, World! 123 + 456 = 579?",
    "naïve café déjà vu Ünïcödé ΑΒΓ 東京 😀", "What is the capital of France?", "a long answer", "word word word",
    "ModernBERT uses rotary embeddings and alternating global and local attention.",
]
FIXTURE_NAMES = ["modernbert_st", "modernbert_ce_cls", "modernbert_ce_mean", "modernbert_se"]


def make_tokenizer(out: Path):
    """A byte-level BPE tokenizer.json (ModernBERT's kind) trained on CORPUS, saved with its tokenizer_config."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 3, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:0 [SEP]:0",
        special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                                   pad_token="[PAD]", mask_token="[MASK]", model_max_length=128,
                                   model_input_names=["input_ids", "attention_mask"])
    fast.save_pretrained(out)
    return fast


def make_hf(kind: str, out: Path, seed: int, **overrides) -> Path:
    """A tiny random ModernBERT ``kind`` (model / cls / mlm) checkpoint with the tokenizer, saved by transformers."""
    from transformers import ModernBertConfig, ModernBertForMaskedLM, ModernBertModel
    from transformers import ModernBertForSequenceClassification as ForClassification

    out.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(out)
    cfg = ModernBertConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=48, num_hidden_layers=4,
                           num_attention_heads=4, max_position_embeddings=128, local_attention=8,
                           global_attn_every_n_layers=3, pad_token_id=3, cls_token_id=1, sep_token_id=2,
                           bos_token_id=1, eos_token_id=2, **overrides)
    torch.manual_seed(seed)
    model = {"model": ModernBertModel, "cls": ForClassification,
             "mlm": ModernBertForMaskedLM}[kind](cfg)
    with torch.no_grad():  # larger random weights than the default init, so differences are not hidden
        for p in model.parameters():
            p.normal_(0, 0.2)
    model.save_pretrained(out)
    return out


def dense(sparse_rows) -> np.ndarray:
    return sparse_rows.to_dense().numpy() if hasattr(sparse_rows, "to_dense") else np.asarray(sparse_rows)


def check_embedkit_saves_load_in_st(golden: dict[str, np.ndarray]) -> None:
    """Folders embedkit saves load in ST 6 and give ST's outputs."""
    from sentence_transformers import CrossEncoder, SentenceTransformer, SparseEncoder

    import embedkit

    ce_pairs = PAIRS + [(a, b) for a, b in zip(TINY_TEXTS, TINY_TEXTS[1:])]
    with tempfile.TemporaryDirectory() as tmp:
        ek = embedkit.SentenceTransformer(str(FIX / "modernbert_st"), device="cpu")
        print(f"embedkit modernbert_st vs ST: max |diff| = {np.abs(ek.encode(TINY_TEXTS) - golden['emb']).max():.2e}")
        ek.save(tmp + "/st")
        diff = np.abs(SentenceTransformer(tmp + "/st", device="cpu", model_kwargs=EAGER).encode(TINY_TEXTS)
                      - golden["emb"]).max()
        print(f"embedkit-saved modernbert_st in ST: max |diff| = {diff:.2e}")
        for name in ("ce_cls", "ce_mean"):
            embedkit.CrossEncoder(str(FIX / f"modernbert_{name}"), device="cpu").save(f"{tmp}/{name}")
            ce = CrossEncoder(f"{tmp}/{name}", device="cpu", model_kwargs=EAGER)
            diff = np.abs(ce.predict(ce_pairs) - golden[f"{name}_scores"]).max()
            print(f"embedkit-saved modernbert_{name} in ST: max |diff| = {diff:.2e}")
        embedkit.SparseEncoder(str(FIX / "modernbert_se"), device="cpu").save(tmp + "/se")
        se = SparseEncoder(tmp + "/se", device="cpu", model_kwargs=EAGER)
        diff = np.abs(dense(se.encode(TINY_TEXTS)) - golden["se_emb"]).max()
        print(f"embedkit-saved modernbert_se in ST: max |diff| = {diff:.2e}")


def main() -> None:
    from sentence_transformers import CrossEncoder, SentenceTransformer, SparseEncoder
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from sentence_transformers.sparse_encoder.modules import MLMTransformer, SpladePooling

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp())
    for name in FIXTURE_NAMES:
        shutil.rmtree(FIX / name, ignore_errors=True)
    golden: dict[str, np.ndarray] = {}

    # SentenceTransformer
    hf = make_hf("model", work / "st", seed=0)
    st = SentenceTransformer(modules=[Transformer(str(hf), model_kwargs=EAGER), Pooling(32, "mean"), Normalize()],
                             device="cpu")
    st.save(str(FIX / "modernbert_st"))
    st = SentenceTransformer(str(FIX / "modernbert_st"), device="cpu", model_kwargs=EAGER)
    feats = st.preprocess(TINY_TEXTS)
    assert "token_type_ids" not in feats
    golden.update(bi_encoder_goldens(st, TINY_TEXTS, rows=slice(4, 6)))  # hidden_states (after the final norm)
    golden["pair_input_ids"] = st.preprocess(PAIRS)["input_ids"].numpy()
    print("modernbert_st: max_seq_length", st.max_seq_length, "tokens", golden["attention_mask"].sum(1).tolist())

    # CrossEncoders
    ce_pairs = PAIRS + [(a, b) for a, b in zip(TINY_TEXTS, TINY_TEXTS[1:])]
    variants = {"ce_cls": dict(num_labels=1, classifier_pooling="cls"),
                "ce_mean": dict(num_labels=2, classifier_pooling="mean", attention_bias=True, mlp_bias=True,
                                norm_bias=True, classifier_bias=True)}
    for seed, (name, overrides) in enumerate(variants.items(), start=1):
        hf = make_hf("cls", work / name, seed=seed, **overrides)
        ce = CrossEncoder(str(hf), device="cpu", model_kwargs=EAGER)
        ce.save(str(FIX / f"modernbert_{name}"))
        ce = CrossEncoder(str(FIX / f"modernbert_{name}"), device="cpu", model_kwargs=EAGER)
        golden[f"{name}_scores"] = ce.predict(ce_pairs, batch_size=4)
        golden[f"{name}_input_ids"] = ce.preprocess(ce_pairs)["input_ids"].numpy()
        print(f"modernbert_{name}: scores shape {golden[f'{name}_scores'].shape}")

    # SparseEncoder
    hf = make_hf("mlm", work / "se", seed=3)
    se = SparseEncoder(modules=[MLMTransformer(str(hf), model_kwargs=EAGER), SpladePooling("max")], device="cpu")
    se.save(str(FIX / "modernbert_se"))
    se = SparseEncoder(str(FIX / "modernbert_se"), device="cpu", model_kwargs=EAGER)
    golden["se_emb"] = dense(se.encode(TINY_TEXTS, batch_size=3))
    print("modernbert_se: active dims", (golden["se_emb"] > 0).sum(1).tolist())

    for name in FIXTURE_NAMES:
        (FIX / name / "README.md").unlink(missing_ok=True)
    save_npz(FIX / "modernbert_golden.npz", golden)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(file_digests(FIXTURE_NAMES, "modernbert_golden.npz"), indent=1))
    check_embedkit_saves_load_in_st(golden)


if __name__ == "__main__":
    main()
