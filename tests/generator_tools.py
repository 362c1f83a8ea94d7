"""What the fixture generators share (run by hand with sentence-transformers; tests never import this): golden
arrays written byte-reproducibly and the digests a generator prints so that a re-run can be compared."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

FIX = Path(__file__).parent / "fixtures"


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with fixed zip timestamps, so that a re-run writes the same bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def file_digests(folders: Iterable[str], golden: str) -> dict[str, str]:
    """The first 16 hex digits of the SHA-256 of every file under ``tests/fixtures/{folder}`` and of ``golden``."""
    paths = sorted(p for name in folders for p in (FIX / name).rglob("*") if p.is_file())
    paths.append(FIX / golden)
    return {str(p.relative_to(FIX)): hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in paths}


def check_saved_bi_encoders_in_st(folders: dict[str, np.ndarray], texts: list[str]) -> None:
    """For each fixture folder and ST's embeddings of ``texts``: print how far embedkit is from them, and how far ST
    is on the folder embedkit saves (eager attention)."""
    import tempfile

    from sentence_transformers import SentenceTransformer

    import embedkit

    with tempfile.TemporaryDirectory() as tmp:
        for name, expected in folders.items():
            ek = embedkit.SentenceTransformer(str(FIX / name), device="cpu")
            print(f"embedkit {name} vs ST: max |diff| = {np.abs(ek.encode(texts) - expected).max():.2e}")
            ek.save(f"{tmp}/{name}")
            st = SentenceTransformer(f"{tmp}/{name}", device="cpu", model_kwargs={"attn_implementation": "eager"})
            print(f"embedkit-saved {name} in ST: max |diff| = {np.abs(st.encode(texts) - expected).max():.2e}")


def check_saved_cross_encoders_in_st(folders: dict[str, np.ndarray], pairs: list[tuple[str, str]]) -> None:
    """For each CrossEncoder fixture folder and ST's scores of ``pairs``: print how far embedkit is from them, and how
    far ST is on the folder embedkit saves (eager attention)."""
    import tempfile

    from sentence_transformers import CrossEncoder

    import embedkit

    with tempfile.TemporaryDirectory() as tmp:
        for name, expected in folders.items():
            ek = embedkit.CrossEncoder(str(FIX / name), device="cpu")
            print(f"embedkit {name} vs ST: max |diff| = {np.abs(ek.predict(pairs) - expected).max():.2e}")
            ek.save(f"{tmp}/{name}")
            ce = CrossEncoder(f"{tmp}/{name}", device="cpu", model_kwargs={"attn_implementation": "eager"})
            print(f"embedkit-saved {name} in ST: max |diff| = {np.abs(ce.predict(pairs) - expected).max():.2e}")


def bi_encoder_goldens(st, texts: list[str], rows: slice = slice(0, 4), types: bool = False) -> dict[str, np.ndarray]:
    """What every family's parity tests compare with sentence-transformers ``st`` (eager attention): the token ids
    and mask of ``texts``, their embeddings batched by 3 and one text at a time, the token embeddings of the first
    five, and every layer's output (``hidden_states``, (L + 1, rows, T, D)) for the texts ``rows`` (with their token
    types when ``types``)."""
    import torch

    feats = st.preprocess(texts)
    golden = {"input_ids": feats["input_ids"].numpy(), "attention_mask": feats["attention_mask"].numpy(),
              "emb": st.encode(texts, batch_size=3), "emb_alone": np.stack([st.encode([t])[0] for t in texts])}
    for i, tokens in enumerate(st.encode(texts[:5], output_value="token_embeddings")):
        golden[f"token_embeddings_{i}"] = tokens.numpy()
    inputs = {key: feats[key][rows] for key in ("input_ids", "attention_mask", *(("token_type_ids",) if types else ()))}
    with torch.no_grad():
        hidden = st[0].auto_model(**inputs, output_hidden_states=True)
    golden["hidden_states"] = torch.stack(hidden.hidden_states).numpy()
    return golden
