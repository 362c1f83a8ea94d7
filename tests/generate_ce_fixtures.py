"""Generate the CrossEncoder parity fixtures with sentence-transformers 6.x (run by hand; tests never import ST).

    /opt/dev/bin/python tests/generate_ce_fixtures.py [--mpnet-vocab /tmp/mpnet/model/all-mpnet-base-v2/vocab.txt]
    /opt/dev/bin/python tests/generate_ce_fixtures.py --check-save   # embedkit-saved folders load in ST 6

Writes under tests/fixtures/:
- ``ce_bert_hf/``       plain HF BertForSequenceClassification (1 label, ``bert.`` prefix, pooler, vocab.txt only);
- ``ce_bert1/``, ``ce_bert3/``, ``ce_mpnet1/``, ``ce_mpnet3/``  the same kind of tiny random checkpoints (1 and 3
  labels) saved by ST 6.x ``CrossEncoder.save`` (modular v5.4+ layout);
- ``ce_golden.json``    ST's predict outputs (default activation, Identity, apply_softmax, one pair) and rank results.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from generate_fixtures import trimmed_vocab  # noqa: E402

CE_PAIRS = [
    ["What is the capital of France?", "Paris is the capital of France."],
    ["", "b"],
    ["naïve café déjà vu — Ünïcödé ΑΒΓ 東京 😀", "emoji 😀🚀 text"],
    ["short", "a long answer " * 300],
    ["word " * 700, "another"],
    ["How do I reset my password?", "Steps to change the account password"],
    ["   ", ""],
    ["a", "a"],
]
QUERY = "Who wrote Pride and Prejudice?"
DOCS = ["Jane Austen wrote Pride and Prejudice.", "The weather is sunny.", "", "Pride " * 50,
        "Ünïcödé tëxt wïth äccents", "Pride and Prejudice is a novel."]


def make_ce_hf(kind: str, num_labels: int, out: Path, vocab_src: Path, seed: int) -> Path:
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertTokenizerFast,
        MPNetConfig,
        MPNetForSequenceClassification,
        MPNetTokenizerFast,
    )

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    vocab = out / "vocab.txt"
    torch.manual_seed(seed)
    if kind == "bert":
        n_vocab = trimmed_vocab(vocab_src, vocab, 500, [])
        tok = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
        cfg = BertConfig(vocab_size=n_vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=512, num_labels=num_labels)
        model = BertForSequenceClassification(cfg)
    else:
        n_vocab = trimmed_vocab(vocab_src, vocab, 500, ["<mask>"])
        tok = MPNetTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
        cfg = MPNetConfig(vocab_size=n_vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=64, max_position_embeddings=514, relative_attention_num_buckets=32,
                          num_labels=num_labels)
        model = MPNetForSequenceClassification(cfg)
    with torch.no_grad():  # larger random weights than the default init, so differences are not hidden
        for p in model.parameters():
            p.normal_(0, 0.2)
    tok.model_max_length = 512
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "tokenizer.json").unlink(missing_ok=True)  # transformers 5 writes a broken one from a bare vocab_file
    return out


def goldens(folder: Path) -> dict:
    from sentence_transformers import CrossEncoder

    ce = CrossEncoder(str(folder), device="cpu")
    g = {
        "num_labels": ce.num_labels,
        "max_length": ce.max_length,
        "default": np.asarray(ce.predict(CE_PAIRS, batch_size=3)).tolist(),
        "identity": np.asarray(ce.predict(CE_PAIRS, activation_fn=torch.nn.Identity())).tolist(),
        "softmax": np.asarray(ce.predict(CE_PAIRS, apply_softmax=True)).tolist(),
        "single": np.asarray(ce.predict(tuple(CE_PAIRS[0]))).tolist(),
    }
    if ce.num_labels == 1:
        g["rank"] = [{k: (float(v) if k == "score" else v) for k, v in r.items()}
                     for r in ce.rank(QUERY, DOCS, return_documents=True)]
        g["rank_top2"] = [r["corpus_id"] for r in ce.rank(QUERY, DOCS, top_k=2)]
    return g


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check-save", action="store_true", help="only check that embedkit saves load in ST")
    parser.add_argument("--mpnet-vocab", default="/tmp/mpnet/model/all-mpnet-base-v2/vocab.txt")
    args = parser.parse_args()
    from sentence_transformers import CrossEncoder

    bert_vocab = FIX / "tiny_bert_hf" / "vocab.txt"
    tmp = Path("/tmp/ek_ce_build")
    shutil.rmtree(tmp, ignore_errors=True)
    gold: dict = {"pairs": CE_PAIRS, "query": QUERY, "docs": DOCS}
    make_ce_hf("bert", 1, FIX / "ce_bert_hf", bert_vocab, seed=10)
    gold["ce_bert_hf"] = goldens(FIX / "ce_bert_hf")
    for name, kind, labels, vocab, seed in [("ce_bert1", "bert", 1, bert_vocab, 11),
                                            ("ce_bert3", "bert", 3, bert_vocab, 12),
                                            ("ce_mpnet1", "mpnet", 1, Path(args.mpnet_vocab), 13),
                                            ("ce_mpnet3", "mpnet", 3, Path(args.mpnet_vocab), 14)]:
        hf = make_ce_hf(kind, labels, tmp / name, vocab, seed)
        out = FIX / name
        shutil.rmtree(out, ignore_errors=True)
        CrossEncoder(str(hf), device="cpu").save(str(out))
        (out / "README.md").unlink(missing_ok=True)  # the model card is not needed by the tests
        gold[name] = goldens(out)
    (FIX / "ce_golden.json").write_text(json.dumps(gold, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("wrote", FIX / "ce_golden.json")


if __name__ == "__main__" and "--check-save" not in sys.argv:
    main()


def check_embedkit_saves_load_in_st() -> None:
    """Save every fixture with embedkit, load it with ST 6 and transformers, and print the max score difference."""
    import tempfile

    from sentence_transformers import CrossEncoder as STCrossEncoder
    from transformers import AutoModelForSequenceClassification

    from embedkit.cross_encoder import CrossEncoder

    gold = json.loads((FIX / "ce_golden.json").read_text(encoding="utf-8"))
    for name in ["ce_bert_hf", "ce_bert1", "ce_bert3", "ce_mpnet1", "ce_mpnet3"]:
        with tempfile.TemporaryDirectory() as tmp:
            ours = CrossEncoder(FIX / name, device="cpu")
            ours.save(tmp)
            st = STCrossEncoder(tmp, device="cpu")
            diff = np.abs(np.asarray(st.predict(gold["pairs"])) - np.asarray(gold[name]["default"])).max()
            same_act = type(st.activation_fn).__name__ == type(ours.activation_fn).__name__
            AutoModelForSequenceClassification.from_pretrained(tmp)  # loads without missing/unexpected weights
            print(f"{name}: ST loads embedkit save, max |diff| {diff:.2e}, activation kept: {same_act}")


if __name__ == "__main__" and "--check-save" in sys.argv:
    check_embedkit_saves_load_in_st()
