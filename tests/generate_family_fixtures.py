"""Generate the RoBERTa / XLM-RoBERTa / DistilBERT / CamemBERT / ELECTRA / ALBERT parity fixtures with
sentence-transformers 6.x (run by hand; tests never import ST or transformers).

    /root/venv6/bin/python tests/generate_family_fixtures.py

Per family (``roberta``, ``xlmr``, ``distilbert``, ``camembert``, ``electra``, ``albert``) it builds tiny random
checkpoints with transformers (hidden 32, 2 layers, 4 heads, weights drawn from N(0, 0.2)) and a tiny tokenizer made
with ``tokenizers``:
- RoBERTa: a byte-level BPE trained on a few sentences (256 bytes + merges), wrapped as RobertaTokenizer;
- XLM-R: a Unigram vocabulary counted from the same sentences, wrapped as XLMRobertaTokenizer (no
  precompiled charsmap);
- CamemBERT: the XLM-R vocabulary behind CamemBERT's own special rows (``<s>NOTUSED``, ``<pad>``, ``</s>NOTUSED``,
  ``<unk>``, ``<s>``, ``</s>``), wrapped as CamembertTokenizer;
- ELECTRA: DistilBERT's WordPiece vocabulary below, wrapped as ElectraTokenizer (token types kept); embedding
  width 16 projected to hidden 32 (``embeddings_project``); no SparseEncoder (its masked LM is a separate generator);
- ALBERT: the XLM-R pieces behind ALBERT's special rows (``<pad>``, ``<unk>``, ``[CLS]``, ``[SEP]``, ``[MASK]``),
  wrapped as AlbertTokenizer (lowercasing); embedding width 16 projected to hidden 32, 3 layers sharing one set of
  weights (``num_hidden_groups`` 1) for the bi-encoder and the 1-label CrossEncoder, and 2 groups of 2 layers each
  (depths run groups 0, 0, 1) for the 3-label one; no SparseEncoder (SPLADE on ALBERT is not supported);
- DistilBERT: the first 500 WordPiece entries of ``tiny_bert_hf/vocab.txt``, wrapped as DistilBertTokenizer,
  with ``sinusoidal_pos_embds: true`` for the bi-encoder (its position table holds the fixed sinusoids).
Writes under tests/fixtures/:
- ``<family>_st/``    ST 6.x SentenceTransformer: Transformer + Pooling(mean) + Normalize;
- ``<family>_ce1/``, ``<family>_ce3/``  ST 6.x CrossEncoder on ``*ForSequenceClassification`` (1 and 3 labels);
- ``<family>_se/``    ST 6.x SparseEncoder: fill-mask Transformer on ``*ForMaskedLM`` + SpladePooling(max, relu);
- ``families_golden.json``  ST's token ids, embeddings, CrossEncoder scores and SPLADE vectors (as index/value lists).
Everything is seeded and written as JSON/safetensors, so a re-run reproduces the files byte for byte. It finally
checks that folders saved by embedkit load in ST 6.x with the same outputs, printing the max differences.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # tokenizer training in one thread: the same vocabulary every run

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from generate_ce_fixtures import CE_PAIRS  # noqa: E402
from generate_fixtures import PAIRS, REAL_TEXTS, TINY_TEXTS  # noqa: E402
from generate_sparse_fixtures import SE_TEXTS  # noqa: E402

FAMILIES = ("roberta", "xlmr", "distilbert", "camembert", "electra", "albert")
NO_SPLADE = ("electra", "albert")  # ELECTRA's masked LM is a separate generator; SPLADE on ALBERT is not supported
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3 as in the released RoBERTa / XLM-R vocabularies
CORPUS = TINY_TEXTS[:5] + REAL_TEXTS + [
    "Paris is the capital and most populous city of France.",
    "The cat sat on the mat while the dog slept by the fire.",
    "Search engines rank documents by their relevance to a query.",
    "Sentence embeddings map texts to vectors that can be compared.",
]
HIDDEN = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)


def roberta_tokenizer():
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS * 3, vocab_size=400, min_frequency=2, special_tokens=SPECIALS, show_progress=False)
    model = json.loads(bpe.to_str())["model"]
    vocab = dict(model["vocab"])
    vocab["<mask>"] = len(vocab)  # last, as in roberta-base
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=512)


def unigram_pieces() -> list[tuple[str, float]]:
    """A Unigram vocabulary counted from the corpus (not trained: the trainer's scores vary from run to run):
    every character, "▁"-prefixed words seen twice or more, and word-initial characters, scored by log frequency."""
    import math
    from collections import Counter

    counts: Counter[str] = Counter()
    for text in CORPUS:
        for word in text.split():
            counts["\u2581" + word] += 1
            counts["\u2581" + word[0]] += 1
            counts.update(word)
    kept = sorted((p for p, n in counts.items() if n >= 2 or len(p) <= 2), key=lambda p: (-counts[p], p))
    total = sum(counts[p] for p in kept)
    return [(p, math.log(counts[p] / total)) for p in kept]


def xlmr_tokenizer():
    from transformers import XLMRobertaTokenizer

    pieces = [(tok, 0.0) for tok in SPECIALS] + unigram_pieces()
    return XLMRobertaTokenizer(vocab=pieces + [("<mask>", 0.0)], model_max_length=512)


def camembert_tokenizer():
    """The same pieces behind the special rows of the released CamemBERT vocabulary (pad 1, <s> 4, </s> 5)."""
    from transformers import CamembertTokenizer

    specials = ["<s>NOTUSED", "<pad>", "</s>NOTUSED", "<unk>", "<s>", "</s>"]
    pieces = [(tok, 0.0) for tok in specials] + unigram_pieces()
    return CamembertTokenizer(vocab=pieces + [("<mask>", 0.0)], model_max_length=512)


def electra_tokenizer():
    from transformers import ElectraTokenizer

    return ElectraTokenizer(vocab=dict(distilbert_tokenizer().get_vocab()), do_lower_case=True, model_max_length=512)


def albert_tokenizer():
    from transformers import AlbertTokenizer

    specials = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4 as in the released ALBERT vocabularies
    pieces = [(tok, 0.0) for tok in specials] + unigram_pieces()
    return AlbertTokenizer(vocab=pieces, do_lower_case=True, model_max_length=512)


def distilbert_tokenizer():
    from transformers import DistilBertTokenizer

    # BERT's special tokens, then every real token of the tiny BERT vocabulary (characters, "##" pieces, words; its
    # first 999 lines are specials and [unused*] rows): texts tokenize to real pieces, not to [UNK]
    lines = [t for t in (FIX / "tiny_bert_hf" / "vocab.txt").read_text(encoding="utf-8").split("\n") if t]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + lines[999:]
    return DistilBertTokenizer(vocab={tok: i for i, tok in enumerate(vocab)}, do_lower_case=True,
                               model_max_length=512)


def make_config(family: str, vocab_size: int, **extra):
    from transformers import (
        AlbertConfig,
        CamembertConfig,
        DistilBertConfig,
        ElectraConfig,
        RobertaConfig,
        XLMRobertaConfig,
    )

    if family == "distilbert":
        return DistilBertConfig(vocab_size=vocab_size, dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                max_position_embeddings=512, pad_token_id=0, **extra)
    if family == "electra":
        return ElectraConfig(vocab_size=vocab_size, embedding_size=16, max_position_embeddings=512, type_vocab_size=2,
                             pad_token_id=0, **HIDDEN, **extra)
    if family == "albert":  # 3 layers (sharing one set of weights unless ``extra`` asks for groups)
        return AlbertConfig(vocab_size=vocab_size, embedding_size=16, hidden_size=32, num_hidden_layers=3,
                            num_attention_heads=4, intermediate_size=64, max_position_embeddings=512,
                            type_vocab_size=2, pad_token_id=0, **extra)
    if family == "camembert":
        return CamembertConfig(vocab_size=vocab_size, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                               bos_token_id=4, eos_token_id=5, layer_norm_eps=1e-5, **HIDDEN, **extra)
    cls = RobertaConfig if family == "roberta" else XLMRobertaConfig
    return cls(vocab_size=vocab_size, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
               bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, **HIDDEN, **extra)


def make_hf(family: str, kind: str, tokenizer, out: Path, seed: int, **extra) -> Path:
    """A tiny random HF checkpoint of ``kind`` (``model``, ``seq``, ``mlm``) saved with its tokenizer."""
    import transformers

    prefix = {"roberta": "Roberta", "xlmr": "XLMRoberta", "distilbert": "DistilBert", "camembert": "Camembert",
              "electra": "Electra", "albert": "Albert"}[family]
    suffix = {"model": "Model", "seq": "ForSequenceClassification", "mlm": "ForMaskedLM"}[kind]
    shutil.rmtree(out, ignore_errors=True)
    torch.manual_seed(seed)
    model = getattr(transformers, prefix + suffix)(make_config(family, len(tokenizer), **extra))
    sinusoidal = getattr(model.config, "sinusoidal_pos_embds", False)
    with torch.no_grad():  # larger random weights than the default init, so differences are not hidden
        for name, p in model.named_parameters():
            if not (sinusoidal and "position_embeddings" in name):
                p.normal_(0, 0.2)
        for module in model.modules():  # keep the padding rows at zero, as the checkpoints have them
            if isinstance(module, torch.nn.Embedding) and module.padding_idx is not None:
                module.weight[module.padding_idx] = 0
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def sparse_lists(rows: torch.Tensor) -> list[list[list[float]]]:
    dense = rows.to_dense() if rows.is_sparse else rows
    return [[torch.nonzero(r).flatten().tolist(), r[r != 0].tolist()] for r in dense]


def build_family(family: str, work: Path) -> dict:
    from sentence_transformers import CrossEncoder, SentenceTransformer, SparseEncoder
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from sentence_transformers.sparse_encoder.modules import SpladePooling

    tokenizer = {"roberta": roberta_tokenizer, "xlmr": xlmr_tokenizer, "distilbert": distilbert_tokenizer,
                 "camembert": camembert_tokenizer, "electra": electra_tokenizer, "albert": albert_tokenizer}[family]()
    seed = 10 * FAMILIES.index(family)
    gold: dict = {"vocab_size": len(tokenizer)}

    extra = {"sinusoidal_pos_embds": True} if family == "distilbert" else {}
    hf = make_hf(family, "model", tokenizer, work / f"{family}_model", seed, **extra)
    st = SentenceTransformer(modules=[Transformer(str(hf)), Pooling(32, "mean"), Normalize()], device="cpu")
    folder = FIX / f"{family}_st"
    shutil.rmtree(folder, ignore_errors=True)
    st.save(str(folder))
    st = SentenceTransformer(str(folder), device="cpu")
    features = st.preprocess(TINY_TEXTS)
    gold["st"] = {
        "max_seq_length": st.max_seq_length,
        "feature_keys": sorted(features),
        "input_ids": [row[mask.bool()].tolist() for row, mask in zip(features["input_ids"],
                                                                       features["attention_mask"])],
        "pair_input_ids": [row[mask.bool()].tolist() for row, mask in
                           zip(*(st.preprocess(PAIRS)[k] for k in ("input_ids", "attention_mask")))],
        "emb": st.encode(TINY_TEXTS, batch_size=3).tolist(),
        "emb_pairs": st.encode(PAIRS).tolist(),
    }

    for labels in (1, 3):
        shared = {"num_hidden_groups": 2, "inner_group_num": 2} if family == "albert" and labels == 3 else {}
        hf = make_hf(family, "seq", tokenizer, work / f"{family}_seq{labels}", seed + labels, num_labels=labels,
                     **shared)
        folder = FIX / f"{family}_ce{labels}"
        shutil.rmtree(folder, ignore_errors=True)
        CrossEncoder(str(hf), device="cpu").save(str(folder))
        ce = CrossEncoder(str(folder), device="cpu")
        gold[f"ce{labels}"] = {
            "default": ce.predict(CE_PAIRS, batch_size=3).tolist(),
            "identity": ce.predict(CE_PAIRS, activation_fn=torch.nn.Identity()).tolist(),
            "max_length": ce.max_length,
        }

    if family in NO_SPLADE:
        for name in ("st", "ce1", "ce3"):
            (FIX / f"{family}_{name}" / "README.md").unlink(missing_ok=True)
        return gold
    hf = make_hf(family, "mlm", tokenizer, work / f"{family}_mlm", seed + 5)
    se = SparseEncoder(modules=[Transformer(str(hf), transformer_task="fill-mask"), SpladePooling("max", "relu")],
                       device="cpu")
    folder = FIX / f"{family}_se"
    shutil.rmtree(folder, ignore_errors=True)
    se.save(str(folder))
    se = SparseEncoder(str(folder), device="cpu")
    gold["se"] = {"encode": sparse_lists(se.encode(SE_TEXTS, batch_size=3, convert_to_tensor=True)),
                  "max_seq_length": se.max_seq_length}
    for name in ("st", "ce1", "ce3", "se"):
        (FIX / f"{family}_{name}" / "README.md").unlink(missing_ok=True)
    return gold


def check_embedkit_saves_load_in_st(family: str) -> None:
    """Folders saved by embedkit load in ST 6.x and give the same outputs (max differences printed)."""
    from sentence_transformers import CrossEncoder, SentenceTransformer, SparseEncoder

    import embedkit

    with tempfile.TemporaryDirectory() as tmp:
        ek = embedkit.SentenceTransformer(str(FIX / f"{family}_st"), device="cpu")
        ek.save(f"{tmp}/st")
        st = SentenceTransformer(f"{tmp}/st", device="cpu")
        diff = np.abs(ek.encode(TINY_TEXTS) - st.encode(TINY_TEXTS)).max()
        same_ids = torch.equal(ek.tokenize(TINY_TEXTS)["input_ids"], st.preprocess(TINY_TEXTS)["input_ids"])
        print(f"{family}: embedkit-saved ST folder in ST 6: max |diff| = {diff:.2e}, same token ids: {same_ids}")
        assert diff <= 2e-5 and same_ids

        ek_ce = embedkit.CrossEncoder(str(FIX / f"{family}_ce3"), device="cpu")
        ek_ce.save(f"{tmp}/ce")
        st_ce = CrossEncoder(f"{tmp}/ce", device="cpu")
        diff = np.abs(ek_ce.predict(CE_PAIRS) - st_ce.predict(CE_PAIRS)).max()
        print(f"{family}: embedkit-saved CrossEncoder in ST 6: max |diff| = {diff:.2e}")
        assert diff <= 1e-4

        if family in NO_SPLADE:
            return
        ek_se = embedkit.SparseEncoder(str(FIX / f"{family}_se"), device="cpu")
        ek_se.save(f"{tmp}/se")
        st_se = SparseEncoder(f"{tmp}/se", device="cpu")
        a = ek_se.encode(SE_TEXTS, convert_to_tensor=True).to_dense().numpy()
        b = st_se.encode(SE_TEXTS, convert_to_tensor=True).to_dense().numpy()
        print(f"{family}: embedkit-saved SparseEncoder in ST 6: max |diff| = {np.abs(a - b).max():.2e}")
        assert np.abs(a - b).max() <= 1e-4


def main() -> None:
    torch.use_deterministic_algorithms(True)
    work = Path(tempfile.mkdtemp())
    try:
        gold = {"texts": TINY_TEXTS, "pairs": [list(p) for p in PAIRS], "ce_pairs": CE_PAIRS, "se_texts": SE_TEXTS}
        for family in FAMILIES:
            gold[family] = build_family(family, work)
            print(family, "vocab", gold[family]["vocab_size"], "max_seq_length", gold[family]["st"]["max_seq_length"],
                  "keys", gold[family]["st"]["feature_keys"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (FIX / "families_golden.json").write_text(json.dumps(gold, ensure_ascii=False) + "\n", encoding="utf-8")
    for family in FAMILIES:
        check_embedkit_saves_load_in_st(family)


if __name__ == "__main__":
    main()
