"""Generate the DeBERTa v1 (``model_type: deberta``) parity fixtures with sentence-transformers 6.x (run by hand;
tests never import ST).

    /root/venv6/bin/python tests/generate_deberta_v1_fixtures.py

Tiny random checkpoints written by transformers (hidden 32, 2 layers, 4 heads, weights drawn from N(0, 0.2),
``max_position_embeddings`` 128) with a DebertaTokenizer (GPT-2 byte-level BPE, as deberta-base's) over a vocabulary
trained on a few sentences (``[PAD]`` 0, ``[CLS]`` 1, ``[SEP]`` 2, ``[UNK]`` 3, ``[MASK]`` last, as deberta-base's).
Three attention layouts:

- ``deberta1_st``  SentenceTransformer: Transformer (DebertaModel; c2p and p2c, distances clamped at 16, absolute
  positions) + mean Pooling + Normalize;
- ``deberta1_ce3`` CrossEncoder on a DebertaForSequenceClassification laid out as deberta-base / nli-deberta-base
  (c2p and p2c reaching ``max_position_embeddings``, no absolute positions, no token types), 3 labels;
- ``deberta1_ce1`` CrossEncoder, 1 label: p2c only, 2 token types, 16-wide word embeddings projected to 32;
- ``deberta1_golden.npz`` ST 6's token ids, embeddings (batched, alone), token embeddings, every layer's output and
  the CrossEncoder scores with their token ids and types.

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
from generate_deberta_fixtures import make_hf  # noqa: E402
from generate_family_fixtures import CORPUS  # noqa: E402
from generate_fixtures import TINY_TEXTS  # noqa: E402
from generator_tools import (  # noqa: E402
    bi_encoder_goldens,
    check_saved_bi_encoders_in_st,
    check_saved_cross_encoders_in_st,
    file_digests,
    save_npz,
)

EAGER = {"attn_implementation": "eager"}
FOLDERS = ("deberta1_st", "deberta1_ce3", "deberta1_ce1")
ST_LAYOUT = dict(relative_attention=True, max_relative_positions=16, pos_att_type="c2p|p2c",
                 position_biased_input=True, type_vocab_size=0)
BASE_LAYOUT = dict(relative_attention=True, max_relative_positions=-1, pos_att_type="c2p|p2c",
                   position_biased_input=False, type_vocab_size=0)
P2C_LAYOUT = dict(relative_attention=True, max_relative_positions=24, pos_att_type=["p2c"],
                  position_biased_input=True, type_vocab_size=2, embedding_size=16)


def make_tokenizer(out: Path):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import DebertaTokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS * 3, vocab_size=400, min_frequency=2,
                            special_tokens=["[PAD]", "[CLS]", "[SEP]", "[UNK]"], show_progress=False)
    model = json.loads(bpe.to_str())["model"]
    vocab = dict(model["vocab"])
    vocab["[MASK]"] = len(vocab)  # last, as in deberta-base
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tok = DebertaTokenizer(vocab=vocab, merges=merges, model_max_length=512)
    tok.save_pretrained(out)
    return tok


def main() -> None:
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp())
    for name in FOLDERS:
        shutil.rmtree(FIX / name, ignore_errors=True)
    golden: dict[str, np.ndarray] = {}

    hf = make_hf("DebertaModel", work / "deberta1_st", seed=0, config_class="DebertaConfig",
                 tokenizer=make_tokenizer, **ST_LAYOUT)
    modules = [Transformer(str(hf), model_kwargs=EAGER), Pooling(32, "mean"), Normalize()]
    SentenceTransformer(modules=modules, device="cpu").save(str(FIX / "deberta1_st"))
    st = SentenceTransformer(str(FIX / "deberta1_st"), device="cpu", model_kwargs=EAGER)
    feats = st.preprocess(TINY_TEXTS)
    golden.update(bi_encoder_goldens(st, TINY_TEXTS))  # hidden_states: (L + 1, 4, T, D)
    print(f"deberta1_st: max_seq_length {st.max_seq_length}, tokens {golden['attention_mask'].sum(1).tolist()}, "
          f"features {sorted(feats)}")

    for name, labels, layout, seed in (("deberta1_ce3", 3, BASE_LAYOUT, 1), ("deberta1_ce1", 1, P2C_LAYOUT, 2)):
        hf = make_hf("DebertaForSequenceClassification", work / name, seed=seed, config_class="DebertaConfig",
                     tokenizer=make_tokenizer, num_labels=labels, **layout)
        CrossEncoder(str(hf), device="cpu", model_kwargs=EAGER).save(str(FIX / name))
        ce = CrossEncoder(str(FIX / name), device="cpu", model_kwargs=EAGER)
        key = name.removeprefix("deberta1_")
        golden[f"{key}_scores"] = ce.predict(CE_PAIRS, batch_size=4)
        features = ce.preprocess(CE_PAIRS)
        print(f"{name}: features {sorted(features)}")
        golden[f"{key}_input_ids"] = features["input_ids"].numpy()
        if "token_type_ids" in features:
            golden[f"{key}_token_type_ids"] = features["token_type_ids"].numpy()

    for name in FOLDERS:
        (FIX / name / "README.md").unlink(missing_ok=True)
    save_npz(FIX / "deberta1_golden.npz", golden)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(file_digests(FOLDERS, "deberta1_golden.npz"), indent=1))
    check_saved_bi_encoders_in_st({"deberta1_st": golden["emb"]}, TINY_TEXTS)
    check_saved_cross_encoders_in_st({name: golden[f"{name.removeprefix('deberta1_')}_scores"]
                                      for name in ("deberta1_ce3", "deberta1_ce1")}, CE_PAIRS)


if __name__ == "__main__":
    main()
