"""Generate the NomicBERT parity fixtures with sentence-transformers 6.x and transformers 5's native ``nomic_bert``
(run by hand; tests never import ST).

    /root/venv6/bin/python tests/generate_nomic_fixtures.py

A tiny random NomicBertModel written by transformers (hidden 32, 2 layers, 4 heads, SwiGLU 48, rotary base 1000,
``max_position_embeddings`` 128, weights drawn from N(0, 0.2)) with DistilBERT's fixture WordPiece vocabulary (uncased,
as a BertTokenizer: token types, as nomic-embed-text's), saved by transformers in Nomic's weight names (``Wqkv``,
``fc11`` / ``fc12`` / ``fc2``, ``emb_ln``). Written under tests/fixtures/:
- ``nomic_st/``      SentenceTransformer in nomic-embed-text's layout: Transformer + mean Pooling + Normalize, with the
  ``search_query: `` / ``search_document: `` prompts;
- ``nomic_plain/``   the same network as a plain transformers folder (other weights), which ST loads with mean pooling;
- ``nomic_golden.npz`` ST 6's token ids, embeddings (batched, alone, with prompts), token embeddings and every
  layer's output.

Attention runs as ``eager`` in fp32 on CPU. Seeded; a re-run writes the same bytes. At the end it checks that
folders saved by embedkit load in ST 6 with the same outputs (printing the max differences).
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

from generate_family_fixtures import distilbert_tokenizer  # noqa: E402
from generate_fixtures import TINY_TEXTS  # noqa: E402
from generator_tools import bi_encoder_goldens, check_saved_bi_encoders_in_st, file_digests, save_npz  # noqa: E402

EAGER = {"attn_implementation": "eager"}
FOLDERS = ("nomic_st", "nomic_plain")
PROMPTS = {"query": "search_query: ", "document": "search_document: "}


def make_hf(out: Path, seed: int) -> Path:
    from transformers import BertTokenizer, NomicBertConfig, NomicBertModel

    out.mkdir(parents=True, exist_ok=True)
    tok = BertTokenizer(vocab=dict(distilbert_tokenizer().get_vocab()), do_lower_case=True, model_max_length=128)
    tok.save_pretrained(out)
    cfg = NomicBertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=48, max_position_embeddings=128, pad_token_id=0)
    torch.manual_seed(seed)
    model = NomicBertModel(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(1.0 if "LayerNorm.weight" in name or "layernorm.weight" in name else 0.0, 0.2)
    model.save_pretrained(out)
    return out


def main() -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp())
    for name in FOLDERS:
        shutil.rmtree(FIX / name, ignore_errors=True)
    golden: dict[str, np.ndarray] = {}

    hf = make_hf(work / "nomic_st", seed=0)
    modules = [Transformer(str(hf), model_kwargs=EAGER), Pooling(32, "mean"), Normalize()]
    SentenceTransformer(modules=modules, device="cpu", prompts=PROMPTS).save(str(FIX / "nomic_st"))
    st = SentenceTransformer(str(FIX / "nomic_st"), device="cpu", model_kwargs=EAGER)
    feats = st.preprocess(TINY_TEXTS)
    golden.update(bi_encoder_goldens(st, TINY_TEXTS, types=True))  # hidden_states: (L + 1, 4, T, D)
    golden["emb_query"] = st.encode_query(TINY_TEXTS, batch_size=4)
    golden["emb_document"] = st.encode_document(TINY_TEXTS, batch_size=4)
    print(f"nomic_st: max_seq_length {st.max_seq_length}, features {sorted(feats)}, "
          f"tokens {golden['attention_mask'].sum(1).tolist()}")

    make_hf(FIX / "nomic_plain", seed=1)
    plain = SentenceTransformer(str(FIX / "nomic_plain"), device="cpu", model_kwargs=EAGER)
    golden["plain_emb"] = plain.encode(TINY_TEXTS, batch_size=4)

    for name in FOLDERS:
        (FIX / name / "README.md").unlink(missing_ok=True)
    save_npz(FIX / "nomic_golden.npz", golden)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(file_digests(FOLDERS, "nomic_golden.npz"), indent=1))
    check_saved_bi_encoders_in_st({"nomic_st": golden["emb"], "nomic_plain": golden["plain_emb"]}, TINY_TEXTS)


if __name__ == "__main__":
    main()
