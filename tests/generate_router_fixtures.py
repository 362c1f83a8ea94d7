"""Golden fixtures for StaticEmbedding and Router from sentence-transformers 6.2 (run by hand in the dev venv).

    /opt/dev/bin/python tests/generate_router_fixtures.py            # write the fixtures
    /opt/dev/bin/python tests/generate_router_fixtures.py --check-save  # embedkit-saved folders load in ST

Writes, under tests/fixtures/:
- ``static_st``: a SentenceTransformer with one StaticEmbedding (tiny BERT tokenizer, random 16-d table), saved by ST;
- ``static_m2v``: a model2vec-layout folder (``embeddings`` + ``mapping`` + ``weights``, tokenizer.json);
- ``router_dense``: Router.for_query_document(query=[StaticEmbedding], document=[tiny BERT Transformer, mean
  Pooling]) + Normalize, saved by ST;
- ``router_mapped``: the same routes with ``route_mappings`` and no default route;
- ``router_golden.json``: ST's encode / encode_query / encode_document outputs for each.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

FIX = Path(__file__).parent / "fixtures"
TINY = FIX / "tiny_bert_v6"


def texts() -> list[str]:
    data = json.loads((FIX / "texts.json").read_text(encoding="utf-8"))
    return data["real"][:8] + ["", "unseen zzzqqq tokens"]


def build() -> dict:
    from safetensors.torch import save_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Router, StaticEmbedding, Transformer
    from tokenizers import Tokenizer

    torch.manual_seed(0)
    tok = Tokenizer.from_file(str(TINY / "tokenizer.json"))
    vocab = tok.get_vocab_size()
    gold: dict = {"texts": texts()}

    static = StaticEmbedding(tok, embedding_weights=torch.randn(vocab, 16))
    model = SentenceTransformer(modules=[static], device="cpu")
    model.save(str(FIX / "static_st"))
    gold["static_st"] = model.encode(gold["texts"]).tolist()

    m2v = FIX / "static_m2v"
    m2v.mkdir(exist_ok=True)
    rng = np.random.RandomState(1)
    save_file({"embeddings": torch.tensor(rng.randn(50, 8), dtype=torch.float32),
               "mapping": torch.tensor(rng.randint(0, 50, size=vocab), dtype=torch.int64),
               "weights": torch.tensor(rng.rand(vocab), dtype=torch.float32)}, str(m2v / "model.safetensors"))
    tok.save(str(m2v / "tokenizer.json"))
    gold["static_m2v"] = SentenceTransformer(modules=[StaticEmbedding.load(str(m2v))], device="cpu").encode(
        gold["texts"]).tolist()

    def routes():
        transformer = Transformer(str(TINY))
        query = StaticEmbedding(tok, embedding_weights=torch.randn(vocab, 32))
        return [query], [transformer, Pooling(32, "mean")]

    q, d = routes()
    model = SentenceTransformer(modules=[Router.for_query_document(q, d), Normalize()], device="cpu")
    model.save(str(FIX / "router_dense"))
    gold["router_dense"] = {"query": model.encode_query(gold["texts"]).tolist(),
                            "document": model.encode_document(gold["texts"]).tolist(),
                            "plain": model.encode(gold["texts"]).tolist()}

    q, d = routes()
    router = Router({"q": q, "d": d}, default_route=None, allow_empty_key=False,
                    route_mappings={("query", None): "q", ("document", None): "d", (None, "text"): "d"})
    model = SentenceTransformer(modules=[router], device="cpu")
    model.save(str(FIX / "router_mapped"))
    gold["router_mapped"] = {"query": model.encode_query(gold["texts"]).tolist(),
                             "document": model.encode_document(gold["texts"]).tolist(),
                             "plain": model.encode(gold["texts"]).tolist()}
    for name in ("static_st", "router_dense", "router_mapped"):  # model cards are not needed by the tests
        (FIX / name / "README.md").unlink(missing_ok=True)
    return gold


def check_save() -> None:
    """Save each fixture with embedkit, load it in ST 6.2, and compare outputs with the goldens."""
    sys.path.insert(0, str(Path(__file__).parent.parent))
    from sentence_transformers import SentenceTransformer as STModel

    from embedkit import SentenceTransformer

    gold = json.loads((FIX / "router_golden.json").read_text(encoding="utf-8"))
    for name in ("static_st", "router_dense", "router_mapped"):
        with tempfile.TemporaryDirectory() as tmp:
            SentenceTransformer(str(FIX / name), device="cpu").save(tmp)
            st = STModel(tmp, device="cpu")
            if name == "static_st":
                diff = np.abs(st.encode(gold["texts"]) - np.asarray(gold[name])).max()
            else:
                diff = max(np.abs(st.encode_query(gold["texts"]) - np.asarray(gold[name]["query"])).max(),
                           np.abs(st.encode_document(gold["texts"]) - np.asarray(gold[name]["document"])).max())
            print(f"{name}: ST 6.2 loads the embedkit save, max |diff| {diff:.2e}")
            assert diff < 1e-5


if __name__ == "__main__":
    if "--check-save" in sys.argv:
        check_save()
    else:
        golden = build()
        (FIX / "router_golden.json").write_text(json.dumps(golden), encoding="utf-8")
        print("wrote", FIX / "router_golden.json")
