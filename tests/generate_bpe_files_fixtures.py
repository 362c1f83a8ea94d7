"""Record what transformers 5.x / sentence-transformers 6.x give for byte-level BPE folders that ship ``vocab.json`` +
``merges.txt`` and no ``tokenizer.json`` (older RoBERTa and DeBERTa v1 uploads), run by hand; tests never import them.

    /root/venv6/bin/python tests/generate_bpe_files_fixtures.py

Each case is an existing fixture rewritten by :func:`bpe_files_folder` (its tokenizer.json's vocabulary and merges
written out as those two files, tokenizer.json removed), so no new weights. Writes ``fixtures/bpe_files_golden.json``:
token ids, attention masks and token types of texts and pairs, and the embeddings or scores ST 6.2 gives.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
sys.path.insert(0, str(HERE))

# fixture -> what it is: a SentenceTransformer ("st") or a CrossEncoder ("ce")
CASES = {"roberta_st": "st", "roberta_ce1": "ce", "deberta1_st": "st", "deberta1_ce3": "ce"}
TEXTS = ["A man is eating food.", "  leading and trailing spaces  ", "naïve café déjà vu 東京 😀",
         "The quick brown fox jumps over the lazy dog, again and again and again."]
PAIRS = [("What is the capital of France?", "Paris is the capital of France."),
         ("a", "A much longer second text that goes on for a while."), ("héllo", "wörld 😀")]


def bpe_files_folder(source: str, target: Path) -> Path:
    """A copy of fixture ``source`` whose tokenizer is ``vocab.json`` + ``merges.txt`` instead of tokenizer.json."""
    shutil.copytree(FIXTURES / source, target)
    tokenizer = json.loads((target / "tokenizer.json").read_text(encoding="utf-8"))
    model = tokenizer["model"]
    (target / "vocab.json").write_text(json.dumps(model["vocab"], ensure_ascii=False), encoding="utf-8")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    (target / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    (target / "tokenizer.json").unlink()
    return target


def main() -> None:
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from transformers import AutoTokenizer

    golden = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, kind in CASES.items():
            folder = bpe_files_folder(name, Path(tmp) / name)
            tokenizer = AutoTokenizer.from_pretrained(str(folder))
            assert not (folder / "tokenizer.json").exists()
            out = {"tokenizer_class": type(tokenizer).__name__}
            for what, inputs in (("texts", TEXTS), ("pairs", PAIRS)):
                if what == "pairs":
                    encoded = tokenizer([p[0] for p in inputs], [p[1] for p in inputs], padding=True)
                else:
                    encoded = tokenizer(inputs, padding=True)
                out[what] = {key: encoded[key] for key in ("input_ids", "attention_mask", "token_type_ids")
                             if key in encoded}
            if kind == "st":
                model = SentenceTransformer(str(folder), device="cpu")
                out["embeddings"] = model.encode(TEXTS).astype(np.float64).tolist()
            else:
                model = CrossEncoder(str(folder), device="cpu")
                out["scores"] = np.asarray(model.predict(PAIRS), dtype=np.float64).reshape(len(PAIRS), -1).tolist()
            golden[name] = out
    path = FIXTURES / "bpe_files_golden.json"
    path.write_text(json.dumps(golden, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
