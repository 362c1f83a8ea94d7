"""Generate the added-tokens goldens with sentence-transformers 6.2 / transformers 5.25 (run by hand; tests never
import them).

    /root/venv6/bin/python tests/generate_added_tokens_fixtures.py

For each case a fixture model gets new tokens through its tokenizer (``add_tokens``, with and without
``special_tokens=True``, one token added twice, ``add_special_tokens`` with extra special tokens), then its token
embeddings are resized with ``resize_token_embeddings(len(tokenizer), mean_resizing=False)`` and the new rows are set
to fixed values (:func:`new_rows`, no random draw), so embedkit can repeat every step. Written:

- ``fixtures/added_tokens/<case>/``: the tokenizer files and config.json sentence-transformers saved afterwards
  (the weights are left out: the test rebuilds them from the base fixture and :func:`new_rows`);
- ``fixtures/added_tokens/golden.json``: per case the counts each call returned, ``len(tokenizer)``, the input ids
  of :data:`TEXTS` (or :data:`PAIRS`), their decoding with special tokens skipped, ``all_special_tokens``, the saved
  ``vocab_size``, and the outputs: embeddings, CrossEncoder logits or SPLADE vectors (as index/value lists).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

FIX = Path(__file__).parent / "fixtures"
OUT = FIX / "added_tokens"
TEXTS = ["[QRY] hello catdog Zebrafish zebrafish <extra_1>", "[DOC]catdog and a plain sentence", "no new tokens"]
PAIRS = [("[QRY] catdog", "[DOC] a document about catdogs"), ("plain query", "plain document")]
ADDS = [("add_tokens", ["[QRY]", "[DOC]"], True), ("add_tokens", ["catdog", "Zebrafish", "hello", "[QRY]"], False),
        ("add_special_tokens", {"additional_special_tokens": ["<extra_1>"]}, None)]
SAVED_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json")


def new_rows(count: int, dim: int) -> torch.Tensor:
    """The values every case writes into the added embedding rows."""
    return torch.linspace(-0.5, 0.5, count * dim).reshape(count, dim)


def add_tokens(tokenizer) -> list[int]:
    counts = []
    for method, tokens, special in ADDS:
        counts.append(tokenizer.add_tokens(tokens, special_tokens=special) if method == "add_tokens"
                      else tokenizer.add_special_tokens(tokens))
    return counts


def resize(network, size: int) -> int:
    old = network.get_input_embeddings().weight.shape[0]
    table = network.resize_token_embeddings(size, mean_resizing=False)
    with torch.no_grad():
        table.weight[old:] = new_rows(size - old, table.weight.shape[1])
    return old


def describe(tokenizer, ids: torch.Tensor, counts: list[int], old: int) -> dict:
    return {"counts": counts, "old_size": old, "len": len(tokenizer), "input_ids": ids.tolist(),
            "decoded": tokenizer.batch_decode(ids, skip_special_tokens=True),
            "all_special_tokens": list(tokenizer.all_special_tokens)}


def save_files(model, case: str, golden: dict) -> None:
    tmp = OUT / f"_{case}"
    model.save(str(tmp))
    (OUT / case).mkdir(parents=True, exist_ok=True)
    for name in SAVED_FILES:
        if (tmp / name).is_file():
            shutil.copyfile(tmp / name, OUT / case / name)
    golden["saved_vocab_size"] = json.loads((tmp / "config.json").read_text())["vocab_size"]
    shutil.rmtree(tmp)


def sentence_case(case: str, fixture: str) -> dict:
    from sentence_transformers import SentenceTransformer  # here: the tests import this module's constants

    model = SentenceTransformer(str(FIX / fixture), device="cpu")
    counts = add_tokens(model.tokenizer)
    old = resize(model[0].auto_model, len(model.tokenizer))
    golden = describe(model.tokenizer, model.tokenize(TEXTS)["input_ids"], counts, old)
    golden["embeddings"] = model.encode(TEXTS).tolist()
    save_files(model, case, golden)
    return golden


def cross_encoder_case() -> dict:
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(FIX / "ce_bert3"), device="cpu")
    counts = add_tokens(model.tokenizer)
    old = resize(model.model, len(model.tokenizer))
    features = model.tokenizer([p[0] for p in PAIRS], [p[1] for p in PAIRS], padding=True, return_tensors="pt")
    golden = describe(model.tokenizer, features["input_ids"], counts, old)
    golden["logits"] = model.predict(PAIRS, activation_fn=torch.nn.Identity()).tolist()
    save_files(model, "ce_bert3", golden)
    return golden


def splade_case() -> dict:
    from sentence_transformers import SparseEncoder

    model = SparseEncoder(str(FIX / "se_bert_v6"), device="cpu")
    counts = add_tokens(model.tokenizer)
    old = resize(model[0].auto_model, len(model.tokenizer))
    golden = describe(model.tokenizer, model.tokenize(TEXTS)["input_ids"], counts, old)
    vectors = model.encode(TEXTS, convert_to_tensor=True).to_dense()
    golden["dimension"] = vectors.shape[1]
    golden["sparse"] = [{"index": v.nonzero().flatten().tolist(), "value": v[v != 0].tolist()} for v in vectors]
    save_files(model, "se_bert_v6", golden)
    return golden


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    golden = {"tiny_bert_v6": sentence_case("tiny_bert_v6", "tiny_bert_v6"),
              "qwen3_st": sentence_case("qwen3_st", "qwen3_st"),
              "ce_bert3": cross_encoder_case(), "se_bert_v6": splade_case()}
    (OUT / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    print({case: (g["len"], g["counts"]) for case, g in golden.items()})


if __name__ == "__main__":
    main()
