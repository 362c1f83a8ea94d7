"""Record the state-dict keys sentence-transformers gives the fixture models (run by hand in both series' venvs;
tests never import sentence-transformers).

    /root/venv6/bin/python tests/generate_state_dict_fixtures.py      # ST 6.x: ``0.model.<transformers name>``
    /root/venv5/bin/python tests/generate_state_dict_fixtures.py      # ST 5.x: ``0.auto_model.<transformers name>``

Writes ``fixtures/st_state_dict_keys.json``: per series and fixture, every key with its tensor's shape and sum
(float64), so a test can check that embedkit's ``load_state_dict`` puts each of sentence-transformers' tensors in the
right place.
"""

from __future__ import annotations

import json
from pathlib import Path

FIX = Path(__file__).parent / "fixtures"
CASES = {"tiny_bert_v6": "SentenceTransformer", "tiny_mpnet_v6": "SentenceTransformer",
         "qwen3_st": "SentenceTransformer", "router_dense": "SentenceTransformer", "ce_bert3": "CrossEncoder",
         "se_bert_v6": "SparseEncoder", "tiny_bert_classic": "SentenceTransformer", "se_bert_v5": "SparseEncoder"}


def main() -> None:
    import sentence_transformers

    series = sentence_transformers.__version__.split(".")[0]
    out_file = FIX / "st_state_dict_keys.json"
    recorded = json.loads(out_file.read_text()) if out_file.exists() else {}
    recorded[series] = {}
    for name, cls_name in CASES.items():
        try:
            model = getattr(sentence_transformers, cls_name)(str(FIX / name), device="cpu")
        except Exception as exc:  # ST 5.x cannot read the 6.x module paths some fixtures were saved with
            print(f"skipped {name}: {type(exc).__name__}: {exc}")
            continue
        recorded[series][name] = [[key, list(t.shape), float(t.double().sum())]
                                  for key, t in model.state_dict().items()]
    out_file.write_text(json.dumps(recorded, indent=0) + "\n")
    print(series, {name: len(keys) for name, keys in recorded[series].items()})


if __name__ == "__main__":
    main()
