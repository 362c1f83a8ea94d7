"""``embedkit search``: dense retrieval over a corpus file, optionally reranked by a CrossEncoder or fused with
SPLADE results by reciprocal rank fusion.

Every input (queries, corpus file, option values, the ``--corpus-embeddings`` path, the ``--rerank`` folder) is
checked before any model loads. ``--corpus-embeddings F.npy`` is reused only when ``F.npy.json`` beside it says it
was made from the same corpus texts by the same model files and prompts; otherwise the corpus is re-encoded and
both files are rewritten (stderr says which and why). ``corpus_id`` is the 1-based line of the text in the file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from embedkit.cli.inputs import check_output_path, check_unicode, read_numbered_texts
from embedkit.cli.model_loading import load_model

SIGNATURE_VERSION = 1


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse ranked id lists: ``score(d) = sum over lists of 1 / (k + rank(d))`` (rank from 1), best first.

    Example:
        >>> [doc for doc, _ in reciprocal_rank_fusion([[1, 2, 3], [3, 1]])]
        [1, 3, 2]
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, 1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def tsv_escape(value: str) -> str:
    """``value`` as one TSV cell: backslash, tab, newline and carriage return become ``\\\\ \\t \\n \\r``.

    Example:
        >>> print(tsv_escape("a\\tb\\nc\\\\d"))
        a\\tb\\nc\\\\d
    """
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def reranker_problem(folder: str | Path) -> str | None:
    """Why the model folder is not a CrossEncoder with a trained head (None when it is, or cannot be told), from
    :func:`embedkit.cli.model_kind`; a bare Hugging Face folder is named by its architecture.

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> reranker_problem(default_model_path())
        'a SentenceTransformer'
    """
    from embedkit.cli import _read_json, model_kind

    folder = Path(folder)
    kind = model_kind(folder)
    if kind == "CrossEncoder":
        return None
    if kind != "SentenceTransformer" or any((folder / name).is_file() for name in
                                            ("modules.json", "config_sentence_transformers.json")):
        return f"a {kind}"
    architectures = _read_json(folder / "config.json").get("architectures") or []
    return f"a {architectures[0]} (no sequence classification head)" if architectures else None


def check_companion_models(reranker: str | None, sparse: str | None, force_rerank: bool | None = None,
                           reranker_option: str = "--rerank") -> None:
    """The reranker and sparse models exist (a local folder or the Hub) and are a CrossEncoder and a SparseEncoder
    (``force_rerank``: a reranker of another kind is allowed; None: the command has no such option)."""
    from embedkit.cli import refuse_other_kind
    from embedkit.hub import resolve_model_path

    if sparse:
        refuse_other_kind(str(resolve_model_path(sparse, default_organization="sparse-encoder")), "SparseEncoder",
                          "--sparse")
    if reranker:
        problem = reranker_problem(resolve_model_path(reranker, default_organization="cross-encoder"))
        if problem and not force_rerank:
            hint = "" if force_rerank is None else "; give --force-rerank to use it anyway"
            raise ValueError(f"{reranker_option} {reranker} is {problem}, not a CrossEncoder: its scores would come "
                             f"from an untrained, random head{hint}")


def check_arguments(args: argparse.Namespace) -> list[tuple[int, str]]:
    """Validate everything that needs no model; returns the numbered corpus texts.

    Raises:
        ValueError, OSError: one line naming the option, file or line at fault.
    """
    for number, query in enumerate(args.query, 1):
        if not query.strip():
            raise ValueError(f"--query {number} is empty")
        check_unicode(query, f"--query {number}")
    corpus = read_numbered_texts(args.corpus, field=args.field, column=args.column, header=args.header)
    if not corpus:
        raise ValueError(f"{args.corpus} holds no texts")
    if args.corpus_embeddings:
        if not args.corpus_embeddings.endswith(".npy"):
            raise ValueError(f"--corpus-embeddings {args.corpus_embeddings}: the file name must end in .npy")
        check_output_path(args.corpus_embeddings, "--corpus-embeddings", writable=False)  # a read-only cache may do
    check_companion_models(args.rerank, args.sparse, args.force_rerank)
    return corpus


def _model_files_digest(folder: Path) -> str:
    """sha256 over the name, size and modification time of every file of a model folder."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def corpus_signature(model: Any, model_name: str, corpus: list[str]) -> dict[str, Any]:
    """What corpus embeddings depend on: the model (name, folder, files), its prompts and limits, and the texts.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> folder = default_model_path()
        >>> signature = corpus_signature(SentenceTransformer(folder), folder, ["a", "b"])
        >>> signature["texts"], signature["dimension"], len(signature["corpus_sha256"])
        (2, 384, 64)
    """
    from embedkit.hub import resolve_model_path

    folder = resolve_model_path(model_name).resolve()
    return {
        "version": SIGNATURE_VERSION,
        "model": model_name,
        "model_folder": str(folder),
        "model_files_sha256": _model_files_digest(folder),
        "prompts": model.prompts,
        "default_prompt_name": model.default_prompt_name,
        "max_seq_length": model.max_seq_length,
        "truncate_dim": getattr(model, "truncate_dim", None),
        "dimension": model.get_embedding_dimension(),
        "quantized": getattr(model, "quantized", None),
        "encode": "encode_document",
        "texts": len(corpus),
        "corpus_sha256": hashlib.sha256(json.dumps(corpus, ensure_ascii=False).encode("utf-8")).hexdigest(),
    }


def _stale_reason(stored: Any, signature: dict[str, Any]) -> str | None:
    """Why ``stored`` (the side file's content) does not describe embeddings made as ``signature`` says."""
    if not isinstance(stored, dict):
        return "its description is not a JSON object"
    if stored.get("corpus_sha256") != signature["corpus_sha256"]:
        return "the corpus texts differ"
    model_keys = ("model_folder", "model_files_sha256")
    if any(stored.get(key) != signature[key] for key in model_keys):
        return "it was made by a different model (or the model files changed)"
    differing = [key for key in signature if key != "model" and stored.get(key) != signature[key]]
    return f"its {', '.join(differing)} differ" if differing else None


def _reusable(path: str, signature: dict[str, Any]) -> Any:
    """The array in ``path`` if its side file matches ``signature``, else None (stderr says why it is not reused)."""
    import numpy as np

    side = Path(path + ".json")
    if not Path(path).is_file():
        return None
    try:
        reason = _stale_reason(json.loads(side.read_text(encoding="utf-8")), signature)
    except FileNotFoundError:
        reason = f"there is no {side.name} saying what it was made from (older run)"
    except (OSError, ValueError) as exc:
        reason = f"{side.name} cannot be read ({type(exc).__name__})"
    emb = None
    if reason is None:
        try:
            emb = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            reason = f"it cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    expected = (signature["texts"], signature["dimension"])
    if emb is not None and (emb.ndim != 2 or emb.shape[0] != expected[0]
                            or (expected[1] is not None and emb.shape[1] != expected[1])):
        reason = f"it holds an array of shape {emb.shape}, not {expected}"
    if reason is not None:
        print(f"embedkit: not reusing {path}: {reason}; re-encoding the corpus", file=sys.stderr)
        return None
    print(f"embedkit: reusing {path} (same corpus texts and model)", file=sys.stderr)
    return emb


def _save(path: str, emb: Any, signature: dict[str, Any]) -> None:
    """Write the embeddings, then the side file (removed first, so a failed write never leaves a stale match)."""
    import numpy as np

    side = Path(path + ".json")
    try:
        side.unlink(missing_ok=True)
        np.save(path, emb)
        side.write_text(json.dumps(signature, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:  # the search itself can go on
        print(f"embedkit: could not save corpus embeddings to {path}: {exc.strerror or exc}", file=sys.stderr)
        return
    print(f"embedkit: saved corpus embeddings to {path} (described in {side.name})", file=sys.stderr)


def _corpus_embeddings(model: Any, model_name: str, corpus: list[str], path: str | None, batch_size: int) -> Any:
    """Encode the corpus, or reuse ``path`` (.npy) when its side file matches; ``path`` is (re)written otherwise."""
    import torch

    signature = corpus_signature(model, model_name, corpus) if path else {}
    emb = _reusable(path, signature) if path else None
    if emb is not None:
        return torch.from_numpy(emb)
    emb = model.encode_document(corpus, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=True)
    if path:
        _save(path, emb.cpu().numpy(), signature)
    return emb


def _dense_rankings(model: Any, queries: list[str], corpus_emb: Any, k: int) -> list[list[tuple[int, float]]]:
    import torch

    query_emb = model.encode_query(queries, convert_to_tensor=True).to(corpus_emb.device)
    scores = model.similarity(query_emb, corpus_emb.to(query_emb.dtype))  # (Q, N)
    top = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    return [list(zip(i.tolist(), s.tolist())) for s, i in zip(top.values, top.indices)]


def _sparse_rankings(model_name: str, queries: list[str], corpus: list[str], k: int, batch_size: int,
                     quantize: str | None = None) -> list[list[int]]:
    import torch

    from embedkit.sparse_encoder import SparseEncoder

    sparse = load_model(SparseEncoder, model_name, quantize)
    docs = sparse.encode_document(corpus, batch_size=batch_size, show_progress_bar=True)
    query_vectors = sparse.encode_query(queries, batch_size=batch_size)
    scores = sparse.similarity(query_vectors, docs)
    scores = scores.to_dense() if scores.is_sparse else scores  # (Q, N)
    top = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    return [i.tolist() for i in top.indices]


def _rerank(args: argparse.Namespace, corpus: list[str], results: list[list[tuple[int, float]]]
            ) -> list[list[tuple[int, float]]]:
    from embedkit.cross_encoder import CrossEncoder

    reranker = load_model(CrossEncoder, args.rerank, args.quantize)
    reranked = []
    for query, hits in zip(args.query, results):
        ids = [doc for doc, _ in hits]
        ranked = reranker.rank(query, [corpus[i] for i in ids], batch_size=args.batch_size)
        reranked.append([(ids[hit["corpus_id"]], hit["score"]) for hit in ranked])
    return reranked


def _print_results(args: argparse.Namespace, numbered: list[tuple[int, str]],
                   results: list[list[tuple[int, float]]]) -> None:
    for query, hits in zip(args.query, results):
        for rank, (doc, score) in enumerate(hits[: args.top_k], 1):
            line, text = numbered[doc]
            row = {"query": query, "rank": rank, "corpus_id": line, "score": round(float(score), 6), "text": text}
            print(json.dumps(row, ensure_ascii=False) if args.format == "jsonl"
                  else "\t".join(tsv_escape(str(row[k])) for k in ("query", "rank", "score", "text")))


def run(args: argparse.Namespace, model_path_for: Callable[[str | None], str]) -> int:
    """``embedkit search``: check every input, then retrieve (and rerank / fuse) and print the top-k per query;
    ``model_path_for(args.model)`` gives the model folder (called only once the inputs passed)."""
    numbered = check_arguments(args)
    corpus = [text for _, text in numbered]
    from embedkit.cli import refuse_other_kind
    from embedkit.sentence_transformer.model import SentenceTransformer

    model_path = model_path_for(args.model)
    refuse_other_kind(model_path, "SentenceTransformer", "--model")
    model = load_model(SentenceTransformer, model_path, args.quantize)
    corpus_emb = _corpus_embeddings(model, model_path, corpus, args.corpus_embeddings, args.batch_size)
    candidates = max(args.top_k, args.candidates) if (args.rerank or args.sparse) else args.top_k
    dense = _dense_rankings(model, args.query, corpus_emb, candidates)
    results: list[list[tuple[int, float]]] = dense
    if args.sparse:
        sparse = _sparse_rankings(args.sparse, args.query, corpus, candidates, args.batch_size, args.quantize)
        results = [reciprocal_rank_fusion([[doc for doc, _ in d], s], k=args.rrf_k) for d, s in zip(dense, sparse)]
    if args.rerank:
        results = _rerank(args, corpus, results)
    _print_results(args, numbered, results)
    return 0
