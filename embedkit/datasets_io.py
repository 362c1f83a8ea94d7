"""Small readers for evaluation data stored as plain files (no ``datasets`` dependency, nothing downloaded).

* :func:`load_beir`: a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv`` or ``qrels.tsv``)
  -> ``(corpus, queries, relevant_docs)`` dicts ready for
  :class:`~embedkit.sentence_transformer.evaluation.InformationRetrievalEvaluator`.
* :func:`load_sts`: STS-style TSV (``sentence1, sentence2, score``) -> three lists, scores optionally scaled to [0, 1].
* :func:`load_pair_labels`: pair-classification TSV (MRPC ``sentence1, sentence2, label, ...``; NLI
  ``premise, hypothesis, label``) -> ``(sentences1, sentences2, labels)``.

TSV files are read with quoting turned off, since many sentences start with ``"``; the first line is the header.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

PathLike = str | os.PathLike


def _read_tsv(path: PathLike) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise ValueError(f"{path}: empty file (a header line is required)")
    return rows[0], [r for r in rows[1:] if r]


def _column(header: list[str], names: tuple[str, ...], path: PathLike) -> int:
    for name in names:
        if name in header:
            return header.index(name)
    raise ValueError(f"{path}: none of the columns {list(names)} found; header is {header}")


def jsonl_objects(name: str, lines: Iterable[str], keys: tuple[str, ...] = (), hint: str = ""
                  ) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` for each non-blank line of a JSONL text, each an object holding ``keys``; a
    ValueError names ``name:line`` for a line that is not such an object (``hint`` follows a missing key).

    Example:
        >>> list(jsonl_objects("docs.jsonl", ['{"_id": 1, "text": "a"}', "", '{"_id": 2, "text": "b"}'], ("text",)))
        [(1, {'_id': 1, 'text': 'a'}), (3, {'_id': 2, 'text': 'b'})]
    """
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name}:{number}: not a JSON object ({exc.msg})") from None
        if not isinstance(record, dict):
            wanted = f" with a {', '.join(map(repr, keys))} field" if keys else ""
            raise ValueError(f"{name}:{number}: expected a JSON object{wanted}, got {line.strip()[:40]}")
        missing = [key for key in keys if key not in record]
        if missing:
            raise ValueError(f"{name}:{number}: no {', '.join(map(repr, missing))} field (the object has "
                             f"{', '.join(map(repr, record))}){hint}")
        yield number, record


def _read_jsonl(path: Path, keys: tuple[str, ...] = ()) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [record for _, record in jsonl_objects(str(path), f, keys)]


def _qrels_path(folder: Path, split: str) -> Path:
    for candidate in (folder / "qrels" / f"{split}.tsv", folder / f"qrels_{split}.tsv", folder / "qrels.tsv"):
        if candidate.is_file():
            if candidate.name == "qrels.tsv" and split != "test":
                continue  # a bare qrels.tsv holds the test qrels
            return candidate
    raise FileNotFoundError(f"{folder}: no qrels for split {split!r} (looked for qrels/{split}.tsv, "
                            f"qrels_{split}.tsv{', qrels.tsv' if split == 'test' else ''})")


def load_beir(folder: PathLike, split: str = "test", include_title: bool = True, min_score: int = 1
              ) -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """Read a BEIR-layout folder.

    Args:
        folder: holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``) and the
            qrels (``query-id  corpus-id  score`` TSV with header) as ``qrels/<split>.tsv``, ``qrels_<split>.tsv``
            or, for ``split="test"``, ``qrels.tsv``.
        split: qrels split.
        include_title: document text = ``(title + " " + text).strip()`` (BEIR's convention for dense models);
            False keeps ``text`` only.
        min_score: qrels with a lower score are not relevant (BEIR: ``score >= 1``).

    Returns:
        ``(corpus, queries, relevant_docs)``: ``{cid: text}``, ``{qid: text}`` restricted to queries with at least one
        relevant document (as BEIR's loader does), and ``{qid: {cid, ...}}``. Ids are strings; empty texts are kept.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a qrels document or query id is not in the corpus / queries.

    Example:
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> root = Path(tempfile.mkdtemp())
        >>> docs = [{"_id": "d1", "title": "Cats", "text": "Cats eat fish."}, {"_id": "d2", "text": "Rain falls."}]
        >>> _ = (root / "corpus.jsonl").write_text("\\n".join(json.dumps(d) for d in docs))
        >>> _ = (root / "queries.jsonl").write_text('{"_id": "q1", "text": "What do cats eat?"}\\n'
        ...                                         '{"_id": "q2", "text": "unjudged"}')
        >>> (root / "qrels").mkdir()
        >>> _ = (root / "qrels" / "test.tsv").write_text("query-id\\tcorpus-id\\tscore\\nq1\\td1\\t1\\nq1\\td2\\t0\\n")
        >>> corpus, queries, qrels = load_beir(root)
        >>> corpus["d1"], queries, qrels
        ('Cats Cats eat fish.', {'q1': 'What do cats eat?'}, {'q1': {'d1'}})
    """
    root = Path(folder)
    for name in ("corpus.jsonl", "queries.jsonl"):
        if not (root / name).is_file():
            raise FileNotFoundError(f"{root}: missing {name}")
    corpus = {}
    for doc in _read_jsonl(root / "corpus.jsonl", ("_id", "text")):
        title = doc.get("title") or ""
        corpus[str(doc["_id"])] = (title + " " + doc["text"]).strip() if include_title else doc["text"]
    all_queries = {str(q["_id"]): q["text"] for q in _read_jsonl(root / "queries.jsonl", ("_id", "text"))}

    qrels_file = _qrels_path(root, split)
    header, rows = _read_tsv(qrels_file)
    qcol = _column(header, ("query-id", "query_id", "qid"), qrels_file)
    ccol = _column(header, ("corpus-id", "corpus_id", "doc-id", "docid"), qrels_file)
    scol = _column(header, ("score", "relevance", "label"), qrels_file)
    relevant: dict[str, set[str]] = {}
    for row in rows:
        if int(float(row[scol])) >= min_score:
            relevant.setdefault(row[qcol], set()).add(row[ccol])
    missing_docs = sorted({c for docs in relevant.values() for c in docs} - corpus.keys())
    missing_queries = sorted(relevant.keys() - all_queries.keys())
    if missing_docs or missing_queries:
        raise ValueError(f"{qrels_file}: ids not found: documents {missing_docs[:5]}, queries {missing_queries[:5]}")
    queries = {qid: text for qid, text in all_queries.items() if qid in relevant}
    return corpus, queries, relevant


def load_sts(path: PathLike, normalize: bool = True, max_score: float = 5.0
             ) -> tuple[list[str], list[str], list[float]]:
    """Read an STS TSV with columns ``sentence1``, ``sentence2``, ``score``.

    Args:
        path: the TSV file (e.g. ``stsb/test.tsv``).
        normalize: divide scores by ``max_score`` (STS-B gold scores are 0-5; ST's STS-B datasets use 0-1).
        max_score: the scale's maximum.

    Returns:
        ``(sentences1, sentences2, scores)``.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> path = Path(tempfile.mkdtemp()) / "sts.tsv"
        >>> _ = path.write_text("sentence1\\tsentence2\\tscore\\nA cat.\\tA kitten.\\t4.5\\nA cat.\\tThe sea.\\t0.0\\n")
        >>> load_sts(path)
        (['A cat.', 'A cat.'], ['A kitten.', 'The sea.'], [0.9, 0.0])
    """
    header, rows = _read_tsv(path)
    a = _column(header, ("sentence1", "sentence_1", "premise"), path)
    b = _column(header, ("sentence2", "sentence_2", "hypothesis"), path)
    s = _column(header, ("score", "label", "similarity"), path)
    scale = max_score if normalize else 1.0
    if not rows:
        raise ValueError(f"{path}: no sentence pairs below the header")
    scores = []
    for number, row in enumerate(rows, 1):  # data rows, blank lines not counted
        if len(row) <= max(a, b, s):
            raise ValueError(f"{path}: data row {number} has {len(row)} columns, the header {len(header)}")
        try:
            scores.append(float(row[s]) / scale)
        except ValueError:
            raise ValueError(f"{path}: data row {number}: score {row[s][:40]!r} is not a number") from None
    return [r[a] for r in rows], [r[b] for r in rows], scores


def load_pair_labels(path: PathLike, label_map: dict[str, int] | None = None
                     ) -> tuple[list[str], list[str], list[int]]:
    """Read a labelled sentence-pair TSV (MRPC: ``sentence1, sentence2, label, id1, id2``; NLI: ``premise,
    hypothesis, label``).

    Args:
        path: the TSV file.
        label_map: string label -> int (e.g. ``{"entailment": 0, "neutral": 1, "contradiction": 2}``);
            None parses labels as integers.

    Returns:
        ``(sentences1, sentences2, labels)``.

    Raises:
        ValueError: a label is not an integer and not in ``label_map``.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> path = Path(tempfile.mkdtemp()) / "nli.tsv"
        >>> _ = path.write_text("premise\\thypothesis\\tlabel\\nA cat sleeps.\\tAn animal rests.\\tentailment\\n")
        >>> load_pair_labels(path, label_map={"entailment": 0, "neutral": 1, "contradiction": 2})
        (['A cat sleeps.'], ['An animal rests.'], [0])
    """
    header, rows = _read_tsv(path)
    a = _column(header, ("sentence1", "sentence_1", "premise", "anchor"), path)
    b = _column(header, ("sentence2", "sentence_2", "hypothesis", "positive"), path)
    y = _column(header, ("label", "score"), path)
    labels = []
    for row in rows:
        raw = row[y]
        if label_map is not None:
            if raw not in label_map:
                raise ValueError(f"{path}: label {raw!r} not in label_map {sorted(label_map)}")
            labels.append(label_map[raw])
        else:
            try:
                labels.append(int(raw))
            except ValueError:
                raise ValueError(f"{path}: label {raw!r} is not an integer; pass label_map") from None
    return [r[a] for r in rows], [r[b] for r in rows], labels
