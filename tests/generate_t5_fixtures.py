"""Generate the T5 / mT5 / UMT5 parity fixtures with sentence-transformers 6.x (run by hand; tests never import ST).

    /root/venv6/bin/python tests/generate_t5_fixtures.py

Tiny random checkpoints written by transformers (d_model 32, 4 heads of d_kv 16 so that the attention width differs
from the hidden size, 8 relative-position buckets reaching 16 tokens so that 128-token inputs use the logarithmic and
the last bucket) with a T5Tokenizer over a Unigram vocabulary counted from a few sentences (``tokenizers``; 4
``<extra_id_N>`` sentinels, ``</s>`` appended, 128 tokens at most). Written under tests/fixtures/:

- ``t5_st/``       SentenceTransformer in GTR's / Sentence-T5's layout: Transformer (T5EncoderModel, T5 1.1's gated
  tanh-GELU feed-forward, 2 layers) + mean Pooling + Dense 32->32 (no bias, identity) + Normalize;
- ``t5_full/``     a plain transformers folder of a whole ``T5ForConditionalGeneration`` (T5 1.0: ``relu``
  feed-forward, tied embeddings): ST loads only its encoder, with mean pooling;
- ``mt5_encoder/`` a plain ``MT5EncoderModel`` folder (mT5's defaults: gated-gelu, untied), mean pooling;
- ``umt5_encoder/`` a plain ``UMT5EncoderModel`` folder (a relative position bias in each of its 2 layers), mean
  pooling;
- ``t5_golden.npz`` ST 6's token ids, embeddings (batched, alone), token embeddings and every layer's output.

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

from generate_family_fixtures import unigram_pieces  # noqa: E402
from generate_fixtures import TINY_TEXTS  # noqa: E402
from generator_tools import bi_encoder_goldens, check_saved_bi_encoders_in_st, file_digests, save_npz  # noqa: E402

EAGER = {"attn_implementation": "eager"}
FOLDERS = ("t5_st", "t5_full", "mt5_encoder", "umt5_encoder")
SIZES = dict(d_model=32, d_kv=16, d_ff=48, num_heads=4, num_layers=2, num_decoder_layers=1,
             relative_attention_num_buckets=8, relative_attention_max_distance=16, decoder_start_token_id=0)


def make_tokenizer(out: Path):
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + unigram_pieces()
    tok = T5Tokenizer(vocab=pieces, extra_ids=4, model_max_length=128)
    tok.save_pretrained(out)
    return tok


def make_hf(class_name: str, out: Path, seed: int, **config) -> Path:
    """A tiny random ``class_name`` checkpoint with the tokenizer, saved by transformers."""
    import transformers

    out.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(out)
    config_class = {"MT5": transformers.MT5Config, "UMT5": transformers.UMT5Config}.get(
        class_name.split("Encoder")[0].split("For")[0], transformers.T5Config)
    cfg = config_class(vocab_size=len(tok), **SIZES, **config)
    torch.manual_seed(seed)
    model = getattr(transformers, class_name)(cfg)
    with torch.no_grad():  # larger random weights than the default init, so differences are not hidden
        for name, p in model.named_parameters():
            p.normal_(1.0 if name.endswith("layer_norm.weight") else 0.0, 0.2)
    model.save_pretrained(out)
    return out


def main() -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp())
    for name in FOLDERS:
        shutil.rmtree(FIX / name, ignore_errors=True)
    golden: dict[str, np.ndarray] = {}

    hf = make_hf("T5EncoderModel", work / "t5_st", seed=0, feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    torch.manual_seed(10)
    modules = [Transformer(str(hf), model_kwargs=EAGER), Pooling(32, "mean"),
               Dense(32, 32, bias=False, activation_function=torch.nn.Identity()), Normalize()]
    SentenceTransformer(modules=modules, device="cpu").save(str(FIX / "t5_st"))
    st = SentenceTransformer(str(FIX / "t5_st"), device="cpu", model_kwargs=EAGER)
    feats = st.preprocess(TINY_TEXTS)
    assert "token_type_ids" not in feats
    golden.update(bi_encoder_goldens(st, TINY_TEXTS))  # hidden_states: (L + 1, 4, T, D)
    golden["last_hidden_state"] = golden["hidden_states"][-1]
    print(f"t5_st: max_seq_length {st.max_seq_length}, tokens {golden['attention_mask'].sum(1).tolist()}")

    make_hf("T5ForConditionalGeneration", FIX / "t5_full", seed=1, feed_forward_proj="relu")
    full = SentenceTransformer(str(FIX / "t5_full"), device="cpu", model_kwargs=EAGER)
    assert full[1].get_config_dict()["pooling_mode"] == "mean", full[1].get_config_dict()
    golden["full_emb"] = full.encode(TINY_TEXTS, batch_size=4)

    make_hf("MT5EncoderModel", FIX / "mt5_encoder", seed=2)
    mt5 = SentenceTransformer(str(FIX / "mt5_encoder"), device="cpu", model_kwargs=EAGER)
    golden["mt5_emb"] = mt5.encode(TINY_TEXTS, batch_size=4)

    make_hf("UMT5EncoderModel", FIX / "umt5_encoder", seed=3)  # a relative position bias in every layer
    umt5 = SentenceTransformer(str(FIX / "umt5_encoder"), device="cpu", model_kwargs=EAGER)
    golden["umt5_emb"] = umt5.encode(TINY_TEXTS, batch_size=4)

    for name in FOLDERS:
        (FIX / name / "README.md").unlink(missing_ok=True)
    save_npz(FIX / "t5_golden.npz", golden)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(file_digests(FOLDERS, "t5_golden.npz"), indent=1))
    check_saved_bi_encoders_in_st({"t5_st": golden["emb"], "t5_full": golden["full_emb"],
                                   "mt5_encoder": golden["mt5_emb"], "umt5_encoder": golden["umt5_emb"]}, TINY_TEXTS)


if __name__ == "__main__":
    main()
