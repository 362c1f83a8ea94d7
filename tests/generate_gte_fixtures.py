"""Generate the GTE parity fixtures with sentence-transformers 6.x and transformers 5's native ``gte`` (run by hand;
tests never import ST).

    /root/venv6/bin/python tests/generate_gte_fixtures.py

Tiny random GTE networks written by transformers (hidden 32, 2 layers, 4 heads, gated feed-forward 48, weights drawn
from N(0, 0.2)), saved by transformers in Alibaba's weight names (``qkv_proj``, ``up_gate_proj``, ``attn_ln``). Written
under tests/fixtures/:
- ``gte_st/``    SentenceTransformer in gte-multilingual-base's layout: an XLM-R Unigram tokenizer (pad id 1), one
  token-type row, rotary base 160000, CLS pooling + Normalize;
- ``gte_en/``    a plain ``GteForMaskedLM`` folder in gte-base-en-v1.5's layout: a WordPiece tokenizer, no token-type
  table, linear rotary scaling (factor 2); ST loads it with mean pooling (the MLM head left aside), and as a
  SparseEncoder (MLMTransformer on its head + max SpladePooling) with no other file;
- ``gte_ce/``    CrossEncoder on ``GteForSequenceClassification`` (BERT's pooler and head), 1 label, as
  gte-multilingual-reranker-base;
- ``gte_golden.npz`` ST 6's token ids, embeddings (batched, alone), token embeddings, every layer's output,
  CrossEncoder scores and the SparseEncoder's SPLADE vectors of ``gte_en``.

Attention runs as ``eager`` in fp32 on CPU. Seeded; a re-run writes the same bytes. At the end it checks that
folders saved by embedkit load in ST 6 with the same outputs (printing the max differences).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from generate_ce_fixtures import CE_PAIRS  # noqa: E402
from generate_family_fixtures import distilbert_tokenizer, xlmr_tokenizer  # noqa: E402
from generate_fixtures import TINY_TEXTS  # noqa: E402
from generator_tools import (  # noqa: E402
    bi_encoder_goldens,
    check_saved_bi_encoders_in_st,
    check_saved_cross_encoders_in_st,
    file_digests,
    save_npz,
)

EAGER = {"attn_implementation": "eager"}
FOLDERS = ("gte_st", "gte_en", "gte_ce")
SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
             max_position_embeddings=128)
MULTILINGUAL = dict(type_vocab_size=1, pad_token_id=1, rope_parameters={"rope_type": "default", "rope_theta": 160000.0})
ENGLISH = dict(type_vocab_size=0, pad_token_id=0,
               rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 500000.0})


def make_hf(class_name: str, tokenizer, out: Path, seed: int, **config) -> Path:
    import transformers
    from transformers import GteConfig

    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    cfg = GteConfig(vocab_size=len(tokenizer), **SIZES, **config)
    torch.manual_seed(seed)
    model = getattr(transformers, class_name)(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(1.0 if "norm.weight" in name.lower() else 0.0, 0.2)
    model.save_pretrained(out)
    return out


def main() -> None:
    from sentence_transformers import CrossEncoder, SentenceTransformer, SparseEncoder
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp())
    for name in FOLDERS:
        shutil.rmtree(FIX / name, ignore_errors=True)
    golden: dict[str, np.ndarray] = {}

    hf = make_hf("GteModel", xlmr_tokenizer(), work / "gte_st", seed=0, **MULTILINGUAL)
    modules = [Transformer(str(hf), model_kwargs=EAGER), Pooling(32, "cls"), Normalize()]
    SentenceTransformer(modules=modules, device="cpu").save(str(FIX / "gte_st"))
    st = SentenceTransformer(str(FIX / "gte_st"), device="cpu", model_kwargs=EAGER)
    feats = st.preprocess(TINY_TEXTS)
    golden.update(bi_encoder_goldens(st, TINY_TEXTS))  # hidden_states: (L + 1, 4, T, D)
    print(f"gte_st: max_seq_length {st.max_seq_length}, tokens {golden['attention_mask'].sum(1).tolist()}, "
          f"features {sorted(feats)}")

    make_hf("GteForMaskedLM", distilbert_tokenizer(), FIX / "gte_en", seed=1, **ENGLISH)
    en = SentenceTransformer(str(FIX / "gte_en"), device="cpu", model_kwargs=EAGER)
    golden["en_emb"] = en.encode(TINY_TEXTS, batch_size=4)
    golden["en_input_ids"] = en.preprocess(TINY_TEXTS)["input_ids"].numpy()
    print(f"gte_en: modules {[type(m).__name__ for m in en]}, features {sorted(en.preprocess(TINY_TEXTS[:1]))}")
    se = SparseEncoder(str(FIX / "gte_en"), device="cpu", model_kwargs=EAGER)
    print(f"gte_en as a SparseEncoder: modules {[type(m).__name__ for m in se]}")
    golden["en_splade"] = se.encode(TINY_TEXTS, batch_size=3).to_dense().numpy()

    hf = make_hf("GteForSequenceClassification", xlmr_tokenizer(), work / "gte_ce", seed=2, num_labels=1,
                 **MULTILINGUAL)
    CrossEncoder(str(hf), device="cpu", model_kwargs=EAGER).save(str(FIX / "gte_ce"))
    ce = CrossEncoder(str(FIX / "gte_ce"), device="cpu", model_kwargs=EAGER)
    golden["ce_scores"] = ce.predict(CE_PAIRS, batch_size=4)
    golden["ce_input_ids"] = ce.preprocess(CE_PAIRS)["input_ids"].numpy()

    for name in FOLDERS:
        (FIX / name / "README.md").unlink(missing_ok=True)
    save_npz(FIX / "gte_golden.npz", golden)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(file_digests(FOLDERS, "gte_golden.npz"), indent=1))
    check_saved_bi_encoders_in_st({"gte_st": golden["emb"], "gte_en": golden["en_emb"]}, TINY_TEXTS)
    check_saved_cross_encoders_in_st({"gte_ce": golden["ce_scores"]}, CE_PAIRS)
    check_saved_sparse_encoder_in_st(golden["en_splade"])


def check_saved_sparse_encoder_in_st(expected: np.ndarray) -> None:
    """embedkit's SPLADE vectors of ``gte_en`` against ST's, and ST's on the SparseEncoder folder embedkit saves."""
    from sentence_transformers import SparseEncoder

    import embedkit

    ek = embedkit.SparseEncoder(str(FIX / "gte_en"), device="cpu")
    print(f"embedkit gte_en SPLADE vs ST: max |diff| = "
          f"{np.abs(ek.encode(TINY_TEXTS).to_dense().numpy() - expected).max():.2e}")
    with tempfile.TemporaryDirectory() as tmp:
        ek.save(f"{tmp}/se")
        st = SparseEncoder(f"{tmp}/se", device="cpu", model_kwargs=EAGER)
        print(f"embedkit-saved gte_en SparseEncoder in ST: max |diff| = "
              f"{np.abs(st.encode(TINY_TEXTS).to_dense().numpy() - expected).max():.2e}")


if __name__ == "__main__":
    main()
