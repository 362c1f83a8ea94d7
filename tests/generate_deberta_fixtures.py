"""Generate the DeBERTa-v2 / v3 parity fixtures with sentence-transformers 6.x (run by hand; tests never import ST).

    /root/venv6/bin/python tests/generate_deberta_fixtures.py

Tiny random checkpoints written by transformers (hidden 32, 2 layers, 4 heads, weights drawn from N(0, 0.2),
``max_position_embeddings`` 128) with a DebertaV2Tokenizer over a Unigram vocabulary counted from a few sentences
(``[PAD]`` 0, ``[CLS]`` 1, ``[SEP]`` 2, ``[UNK]`` 3, ``[MASK]`` last, as DeBERTa-v3's). Two attention layouts:

- v3 (DeBERTa-v3 and its fine-tunes: mxbai-rerank-v1, nli-deberta-v3): relative attention with c2p and p2c through
  the shared query / key projections, 16 log buckets reaching 64 tokens (so 128-token inputs use the logarithmic
  buckets and the clamp), LayerNorm on the relative table, no absolute positions, no token types;
- v2-style: separate ``pos_key_proj`` / ``pos_query_proj``, no buckets (distances clamped at 32), absolute
  positions, 2 token types, and 16-wide word embeddings projected to 32 (``embed_proj``).

Written under tests/fixtures/:
- ``deberta_st/``    SentenceTransformer: Transformer (v3 DebertaV2Model) + mean Pooling + Normalize;
- ``deberta_mlm/``   a plain v3 ``DebertaV2ForMaskedLM`` folder (transformers' legacy MLM head, left aside), which ST
  loads with mean pooling;
- ``deberta_ce1/``   CrossEncoder on a v3 ``DebertaV2ForSequenceClassification``, 1 label (a reranker);
- ``deberta_ce3/``   CrossEncoder on a v2-style one, 3 labels (NLI), token types used;
- ``deberta_golden.npz`` ST 6's token ids, embeddings (batched, alone), token embeddings, every layer's output and
  CrossEncoder scores.

Attention runs as ``eager`` in fp32 on CPU. Seeded; a re-run writes the same bytes. At the end it checks that
folders saved by embedkit load in ST 6 with the same outputs (printing the max differences).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("RAYON_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from generate_ce_fixtures import CE_PAIRS  # noqa: E402
from generate_family_fixtures import unigram_pieces  # noqa: E402
from generate_fixtures import TINY_TEXTS  # noqa: E402
from generator_tools import (  # noqa: E402
    bi_encoder_goldens,
    check_saved_bi_encoders_in_st,
    check_saved_cross_encoders_in_st,
    file_digests,
    save_npz,
)

EAGER = {"attn_implementation": "eager"}
FOLDERS = ("deberta_st", "deberta_mlm", "deberta_ce1", "deberta_ce3")
SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
             max_position_embeddings=128, pad_token_id=0)
V3 = dict(relative_attention=True, position_buckets=16, max_relative_positions=64, pos_att_type=["p2c", "c2p"],
          share_att_key=True, norm_rel_ebd="layer_norm", position_biased_input=False, type_vocab_size=0)
V2_STYLE = dict(relative_attention=True, position_buckets=-1, max_relative_positions=32, pos_att_type=["c2p", "p2c"],
                share_att_key=False, norm_rel_ebd="none", position_biased_input=True, type_vocab_size=2,
                embedding_size=16)


def make_tokenizer(out: Path):
    from transformers import DebertaV2Tokenizer

    specials = [("[PAD]", 0.0), ("[CLS]", 0.0), ("[SEP]", 0.0), ("[UNK]", 0.0)]
    tok = DebertaV2Tokenizer(vocab=specials + unigram_pieces() + [("[MASK]", 0.0)], unk_id=3, model_max_length=512)
    tok.save_pretrained(out)
    return tok


def make_hf(class_name: str, out: Path, seed: int, config_class: str = "DebertaV2Config",
            tokenizer: Callable[[Path], Any] = make_tokenizer, **config) -> Path:
    """A tiny random ``class_name`` checkpoint (a ``config_class`` config of ``SIZES`` and ``config``) with the
    tokenizer ``tokenizer(out)`` saves, saved by transformers."""
    import transformers

    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer(out)
    cfg = getattr(transformers, config_class)(vocab_size=len(tok), **SIZES, **config)
    torch.manual_seed(seed)
    model = getattr(transformers, class_name)(cfg)
    with torch.no_grad():  # larger random weights than the default init, so differences are not hidden
        for name, p in model.named_parameters():
            p.normal_(1.0 if name.endswith("LayerNorm.weight") else 0.0, 0.2)
    model.save_pretrained(out)
    return out


def main() -> None:
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp())
    for name in FOLDERS:
        shutil.rmtree(FIX / name, ignore_errors=True)
    golden: dict[str, np.ndarray] = {}

    hf = make_hf("DebertaV2Model", work / "deberta_st", seed=0, **V3)
    modules = [Transformer(str(hf), model_kwargs=EAGER), Pooling(32, "mean"), Normalize()]
    SentenceTransformer(modules=modules, device="cpu").save(str(FIX / "deberta_st"))
    st = SentenceTransformer(str(FIX / "deberta_st"), device="cpu", model_kwargs=EAGER)
    feats = st.preprocess(TINY_TEXTS)
    golden.update(bi_encoder_goldens(st, TINY_TEXTS))  # hidden_states: (L + 1, 4, T, D)
    print(f"deberta_st: max_seq_length {st.max_seq_length}, tokens {golden['attention_mask'].sum(1).tolist()}, "
          f"features {sorted(feats)}")

    make_hf("DebertaV2ForMaskedLM", FIX / "deberta_mlm", seed=1, **V3)
    mlm = SentenceTransformer(str(FIX / "deberta_mlm"), device="cpu", model_kwargs=EAGER)
    golden["mlm_emb"] = mlm.encode(TINY_TEXTS, batch_size=4)

    for name, labels, layout, seed in (("deberta_ce1", 1, V3, 2), ("deberta_ce3", 3, V2_STYLE, 3)):
        hf = make_hf("DebertaV2ForSequenceClassification", work / name, seed=seed, num_labels=labels, **layout)
        CrossEncoder(str(hf), device="cpu", model_kwargs=EAGER).save(str(FIX / name))
        ce = CrossEncoder(str(FIX / name), device="cpu", model_kwargs=EAGER)
        key = name.removeprefix("deberta_")
        golden[f"{key}_scores"] = ce.predict(CE_PAIRS, batch_size=4)
        features = ce.preprocess(CE_PAIRS)
        golden[f"{key}_input_ids"] = features["input_ids"].numpy()
        golden[f"{key}_token_type_ids"] = features["token_type_ids"].numpy()

    for name in FOLDERS:
        (FIX / name / "README.md").unlink(missing_ok=True)
    save_npz(FIX / "deberta_golden.npz", golden)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(file_digests(FOLDERS, "deberta_golden.npz"), indent=1))
    check_saved_bi_encoders_in_st({"deberta_st": golden["emb"], "deberta_mlm": golden["mlm_emb"]}, TINY_TEXTS)
    check_saved_cross_encoders_in_st({name: golden[f"{name.removeprefix('deberta_')}_scores"]
                                      for name in ("deberta_ce1", "deberta_ce3")}, CE_PAIRS)


if __name__ == "__main__":
    main()
