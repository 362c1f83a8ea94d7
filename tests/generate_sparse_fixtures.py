"""Generate the SparseEncoder (SPLADE) parity fixtures with sentence-transformers 6.x (run by hand; tests never
import ST or transformers).

    /opt/dev/bin/python tests/generate_sparse_fixtures.py                # fixtures + goldens
    /opt/dev/bin/python tests/generate_sparse_fixtures.py --check-save   # embedkit-saved folders load in ST 6

Writes under tests/fixtures/:
- ``se_bert_v6/``    tiny random BertForMaskedLM saved by ST 6.x ``SparseEncoder.save``: root Transformer with
  ``transformer_task: fill-mask`` + ``1_SpladePooling`` (max, relu);
- ``se_bert_v5/``    the same weights in the ST 5.0-5.3 layout (``sparse_encoder.models.MLMTransformer`` with
  ``{max_seq_length, do_lower_case}``, SpladePooling with ``word_embedding_dimension``);
- ``se_mpnet_v6/``   tiny random MPNetForMaskedLM, SpladePooling (sum, log1p_relu), query/document prompts;
- ``se_static/``     a SparseStaticEmbedding (IDF weights) model, as the query side of inference-free SPLADE;
- ``se_inference_free/`` Router(query: SparseStaticEmbedding, document: fill-mask Transformer + SpladePooling);
- ``se_golden.npz`` / ``se_golden.json``  ST's outputs: dense SPLADE vectors for every pooling x activation,
  max_active_dims, encode_query/encode_document, decode, sparsity, intersection, similarity.
Vocabularies (specials, single characters, ~400 words) are cut from ``tiny_bert_hf/vocab.txt`` and
``tiny_mpnet_v6/tokenizer.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
sys.path.insert(0, str(HERE.parent))


SE_TEXTS = [
    "What is the capital of France?",
    "",
    "naïve café déjà vu — Ünïcödé ΑΒΓ 東京 😀",
    "The quick brown fox jumps over the lazy dog. " * 6,
    "word " * 300,  # past max_seq_length (128)
    "a",
    "Paris is the capital and most populous city of France.",
]
COMBOS = [("max", "relu"), ("max", "log1p_relu"), ("sum", "relu"), ("sum", "log1p_relu")]
MAX_SEQ_LENGTH = 128


def _vocab_file(kind: str, dst: Path) -> int:
    """The special tokens plus single characters and the ~400 most frequent words of the BERT vocabulary."""
    if kind == "bert":
        lines = (FIX / "tiny_bert_hf" / "vocab.txt").read_text(encoding="utf-8").split("\n")
        kept = lines[:104] + lines[999:2400]  # [PAD], [unused0-98], [UNK], [CLS], [SEP], [MASK]; "!" ... "games"
    else:
        data = json.loads((FIX / "tiny_mpnet_v6" / "tokenizer.json").read_text(encoding="utf-8"))
        lines = [t for t, _ in sorted(data["model"]["vocab"].items(), key=lambda kv: kv[1])]
        kept = lines[:108] + lines[1003:2404] + ["<mask>"]  # <s> <pad> </s> <unk> + the same BERT slice
    dst.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return len(kept)


def make_mlm_hf(kind: str, out: Path, seed: int) -> Path:
    """A tiny random ``*ForMaskedLM`` folder (vocab.txt only), weights drawn from N(0, 0.2)."""
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        BertTokenizerFast,
        MPNetConfig,
        MPNetForMaskedLM,
        MPNetTokenizerFast,
    )

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    vocab = out / "vocab.txt"
    n_vocab = _vocab_file(kind, vocab)
    torch.manual_seed(seed)
    if kind == "bert":
        tok = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
        cfg = BertConfig(vocab_size=n_vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=512)
        model = BertForMaskedLM(cfg)
    else:
        tok = MPNetTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
        cfg = MPNetConfig(vocab_size=n_vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=64, max_position_embeddings=514, relative_attention_num_buckets=32)
        model = MPNetForMaskedLM(cfg)
    with torch.no_grad():  # larger random weights than the default init, so differences are not hidden
        for p in model.parameters():
            p.normal_(0, 0.2)
    tok.model_max_length = MAX_SEQ_LENGTH
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "tokenizer.json").unlink(missing_ok=True)  # transformers 5 writes a broken one from a bare vocab_file
    return out


def _strip(folder: Path) -> None:
    (folder / "README.md").unlink(missing_ok=True)


def to_classic(v6: Path, out: Path) -> None:
    """Rewrite an ST 6 SPLADE folder into the ST 5.0-5.3 layout (same weights and tokenizer)."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(v6, out)
    modules = json.loads((out / "modules.json").read_text())
    modules[0]["type"] = "sentence_transformers.sparse_encoder.models.MLMTransformer"
    modules[1]["type"] = "sentence_transformers.sparse_encoder.models.SpladePooling"
    (out / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False}, indent=2) + "\n")
    pooling_cfg = out / modules[1]["path"] / "config.json"
    cfg = json.loads(pooling_cfg.read_text())
    cfg["word_embedding_dimension"] = cfg.pop("embedding_dimension")
    pooling_cfg.write_text(json.dumps(cfg, indent=2) + "\n")
    st_cfg = json.loads((out / "config_sentence_transformers.json").read_text())
    st_cfg["__version__"]["sentence_transformers"] = "5.0.0"
    (out / "config_sentence_transformers.json").write_text(json.dumps(st_cfg, indent=2, sort_keys=True) + "\n")


def _dense(x: torch.Tensor) -> np.ndarray:
    return (x.to_dense() if x.is_sparse else x).float().cpu().numpy()


def rows(emb: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """Rows ``start:end`` of a sparse COO matrix (sparse tensors cannot be sliced)."""
    return emb.index_select(0, torch.arange(start, end))


def goldens(model, prefix: str, arrays: dict, meta: dict) -> None:
    """Record ST's outputs for ``model`` under keys starting with ``prefix``."""
    emb = model.encode(SE_TEXTS, batch_size=3)
    assert emb.is_sparse
    arrays[f"{prefix}/encode"] = _dense(emb)
    if any(model.prompts.values()):  # without prompts, encode_query/encode_document equal encode
        arrays[f"{prefix}/query"] = _dense(model.encode_query(SE_TEXTS))
        arrays[f"{prefix}/document"] = _dense(model.encode_document(SE_TEXTS))
    arrays[f"{prefix}/single"] = _dense(model.encode(SE_TEXTS[0]))
    arrays[f"{prefix}/max_active_dims_5"] = _dense(model.encode(SE_TEXTS, max_active_dims=5))
    arrays[f"{prefix}/similarity"] = model.similarity(emb, emb).numpy()
    arrays[f"{prefix}/similarity_pairwise"] = model.similarity_pairwise(rows(emb, 0, 3), rows(emb, 3, 6)).numpy()
    arrays[f"{prefix}/intersection_1d"] = _dense(model.intersection(emb[0], emb[6]))
    arrays[f"{prefix}/intersection_2d"] = _dense(model.intersection(emb[0], rows(emb, 3, 7)))
    meta[prefix] = {
        "decode_top5": [[[t, w] for t, w in row] for row in model.decode(rows(emb, 0, 3), top_k=5)],
        "decode_full_0": [[t, w] for t, w in model.decode(emb[0])],
        "sparsity": model.sparsity(emb),
        "sparsity_single": model.sparsity(emb[0]),
        "dimension": model.get_embedding_dimension(),
        "max_seq_length": model.max_seq_length,
        "similarity_fn_name": model.similarity_fn_name,
        "prompts": model.prompts,
    }


def main() -> None:
    from sentence_transformers import SparseEncoder
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sparse_encoder.modules import SparseStaticEmbedding, SpladePooling
    from transformers import AutoTokenizer

    tmp = Path(tempfile.mkdtemp(prefix="ek_se_build"))
    arrays: dict[str, np.ndarray] = {}
    meta: dict = {"texts": SE_TEXTS, "combos": COMBOS}

    # BERT, ST 6 layout (default modules for a *ForMaskedLM: fill-mask Transformer + SpladePooling(max, relu))
    bert_hf = make_mlm_hf("bert", tmp / "bert_hf", seed=21)
    bert = SparseEncoder(str(bert_hf), device="cpu")
    for out in ("se_bert_v6",):
        shutil.rmtree(FIX / out, ignore_errors=True)
        bert.save(str(FIX / out))
        _strip(FIX / out)
    to_classic(FIX / "se_bert_v6", FIX / "se_bert_v5")
    bert = SparseEncoder(str(FIX / "se_bert_v6"), device="cpu")
    goldens(bert, "bert", arrays, meta)
    classic = SparseEncoder(str(FIX / "se_bert_v5"), device="cpu")
    arrays["bert_v5/encode"] = _dense(classic.encode(SE_TEXTS))
    for strategy, act in COMBOS:
        bert[1] = SpladePooling(strategy, act)
        arrays[f"bert/{strategy}_{act}"] = unchunked = _dense(bert.encode(SE_TEXTS, batch_size=4))
        bert[1] = SpladePooling(strategy, act, chunk_size=5)  # ST's own chunking agrees up to summation order
        np.testing.assert_allclose(_dense(bert.encode(SE_TEXTS, batch_size=4)), unchunked, rtol=1e-6, atol=1e-6)

    # MPNet, sum + log1p_relu, with prompts
    mpnet_hf = make_mlm_hf("mpnet", tmp / "mpnet_hf", seed=22)
    mpnet = SparseEncoder(modules=[Transformer(str(mpnet_hf), transformer_task="fill-mask"),
                                   SpladePooling("sum", "log1p_relu")],
                          prompts={"query": "query: ", "document": "passage: "}, device="cpu")
    shutil.rmtree(FIX / "se_mpnet_v6", ignore_errors=True)
    mpnet.save(str(FIX / "se_mpnet_v6"))
    _strip(FIX / "se_mpnet_v6")
    mpnet = SparseEncoder(str(FIX / "se_mpnet_v6"), device="cpu")
    goldens(mpnet, "mpnet", arrays, meta)
    for strategy, act in COMBOS:
        mpnet[1] = SpladePooling(strategy, act)
        arrays[f"mpnet/{strategy}_{act}"] = _dense(mpnet.encode(SE_TEXTS, batch_size=4))

    # SparseStaticEmbedding: IDF weights over the BERT vocabulary
    tokenizer = AutoTokenizer.from_pretrained(str(FIX / "se_bert_v6"))
    g = torch.Generator().manual_seed(23)
    weight = torch.rand(len(tokenizer.get_vocab()), generator=g) * 5
    static = SparseEncoder(modules=[SparseStaticEmbedding(tokenizer, weight=weight, frozen=True)], device="cpu")
    shutil.rmtree(FIX / "se_static", ignore_errors=True)
    static.save(str(FIX / "se_static"))
    _strip(FIX / "se_static")
    static = SparseEncoder(str(FIX / "se_static"), device="cpu")
    arrays["static/encode"] = _dense(static.encode(SE_TEXTS, batch_size=3))
    arrays["static/query_prompt"] = _dense(static.encode(SE_TEXTS, prompt="query: "))
    decoded = static.decode(static.encode(SE_TEXTS[:2]), top_k=5)
    meta["static"] = {"dimension": static.get_embedding_dimension(),
                      "decode_top5": [[[t, w] for t, w in row] for row in decoded]}

    # Inference-free SPLADE: Router(query: SparseStaticEmbedding, document: fill-mask Transformer + SpladePooling)
    from sentence_transformers.base.modules import Router

    router = Router.for_query_document(
        query_modules=[SparseStaticEmbedding(tokenizer, weight=weight, frozen=True)],
        document_modules=[Transformer(str(FIX / "se_bert_v6"), transformer_task="fill-mask"), SpladePooling("max")],
    )
    free = SparseEncoder(modules=[router], device="cpu")
    shutil.rmtree(FIX / "se_inference_free", ignore_errors=True)
    free.save(str(FIX / "se_inference_free"))
    _strip(FIX / "se_inference_free")
    free = SparseEncoder(str(FIX / "se_inference_free"), device="cpu")
    arrays["free/query"] = _dense(free.encode_query(SE_TEXTS))
    arrays["free/document"] = _dense(free.encode_document(SE_TEXTS))
    arrays["free/encode"] = _dense(free.encode(SE_TEXTS))
    meta["free"] = {"dimension": free.get_embedding_dimension(), "max_seq_length": free.max_seq_length}

    np.savez_compressed(FIX / "se_golden.npz", **arrays)
    (FIX / "se_golden.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    shutil.rmtree(tmp, ignore_errors=True)
    for name in ("se_bert_v6", "se_bert_v5", "se_mpnet_v6", "se_static", "se_inference_free"):
        size = sum(p.stat().st_size for p in (FIX / name).rglob("*") if p.is_file())
        print(f"{name}: {size / 1024:.0f} KB")
    print("wrote", FIX / "se_golden.npz", FIX / "se_golden.json")


def check_embedkit_saves_load_in_st() -> None:
    """Load each fixture with embedkit, save it, load the save with ST 6.2, and compare with ST's goldens."""
    from sentence_transformers import SparseEncoder as STSparseEncoder

    from embedkit.sparse_encoder import SparseEncoder

    with np.load(FIX / "se_golden.npz") as data:
        gold = {k: data[k] for k in data.files}
    for name, key in [("se_bert_v6", "bert/encode"), ("se_bert_v5", "bert_v5/encode"),
                      ("se_mpnet_v6", "mpnet/encode"), ("se_static", "static/encode"),
                      ("se_inference_free", "free/encode")]:
        with tempfile.TemporaryDirectory() as tmp:
            ours = SparseEncoder(FIX / name, device="cpu")
            ours.save(tmp)
            st = STSparseEncoder(tmp, device="cpu")
            got = _dense(st.encode(SE_TEXTS, batch_size=3))
            diff = np.abs(got - gold[key]).max()
            same_support = bool(((got != 0) == (gold[key] != 0)).all())
            query = _dense(st.encode_query(SE_TEXTS))
            ours_query = _dense(ours.encode_query(SE_TEXTS))
            qdiff = np.abs(query - ours_query).max()
            print(f"{name}: ST 6.2 loads the embedkit save: max |diff| {diff:.2e}, same support {same_support}, "
                  f"encode_query max |diff| {qdiff:.2e}, modules {[type(m).__name__ for m in st]}, "
                  f"similarity_fn_name {st.similarity_fn_name}")
            assert diff < 1e-4 and same_support and qdiff < 1e-4, name


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--check-save", action="store_true", help="only check that embedkit saves load in ST")
    if parser.parse_args().check_save:
        check_embedkit_saves_load_in_st()
    else:
        main()
