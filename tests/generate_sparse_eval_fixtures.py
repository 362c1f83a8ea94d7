"""Generate the sparse evaluator goldens with sentence-transformers 6.2 (run by hand; tests never import ST).

    /opt/dev/bin/python tests/generate_sparse_eval_fixtures.py

Runs every ``sentence_transformers.sparse_encoder.evaluation`` evaluator of :func:`sparse_specs` on the data
slices in tests/fixtures/evaluation/data with :class:`HashSparseModel` (``hash``: exact evaluator parity) and the
two tiny SPLADE fixtures end to end (``bert``: tests/fixtures/se_bert_v6, an MLMTransformer + SpladePooling;
``ifree``: tests/fixtures/se_inference_free, a Router with a SparseStaticEmbedding query route), plus the model-free
ReciprocalRankFusionEvaluator (once), and writes
tests/fixtures/se_evaluation/golden.json: per ``{model}/{spec}`` the metric dict, primary metric,
``greater_is_better``, config and the CSV files ST wrote for one call with ``epoch=1, steps=5``.
NanoBEIR reads the local BEIR folders through a subclass that only replaces ST's Hub loader.
"""

from __future__ import annotations

import json
import random
import re
import sys
import tempfile
import zlib
from pathlib import Path

import torch

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
DATA = FIX / "evaluation/data"
OUT = FIX / "se_evaluation"
sys.path.insert(0, str(HERE.parent))

MODELS = {"hash": "hash", "bert": FIX / "se_bert_v6", "ifree": FIX / "se_inference_free"}
# SparseMSEEvaluator teacher: the other fixture (same 1505-token vocabulary), or the hash model with another salt.
TEACHER = {"hash": "hash_teacher", "bert": "ifree", "ifree": "bert"}
FNS = ["cosine", "dot", "euclidean", "manhattan"]
_WORD = re.compile(r"\w+")


class _CardData:
    def set_evaluation_metrics(self, *args, **kwargs) -> None:
        pass


class HashSparseModel:
    """Deterministic bag-of-words sparse "model" for exact evaluator parity (ST's evaluators and embedkit's see
    bit-identical embeddings).

    The tiny SPLADE fixtures activate about half of their 1505 dimensions for every text, so all their similarities
    are nearly equal (cosine within 3e-6 of 1, dot within 0.5 of 45) and float32 summation order alone (measured:
    6e-5 on a dot product, between ST's sparse pairwise product and embedkit's) reorders pairs. Here each lower-cased
    word adds a small integer weight (1-3) to one of ``vocab_size`` hashed dimensions, so dot products, distances and
    the sparsity statistics are exact in float32 in any summation order. ``max_active_dims`` keeps the largest values
    (ties: lowest index) and is applied by the model itself, identically for both libraries.
    """

    def __init__(self, vocab_size: int = 400, salt: str = "", similarity_fn_name: str = "dot") -> None:
        self.vocab_size = vocab_size
        self.salt = salt
        self.similarity_fn_name = similarity_fn_name
        self.prompts = {"query": "query: ", "document": "passage: "}
        self.model_card_data = _CardData()
        self.device = torch.device("cpu")
        self.max_active_dims = None

    def eval(self):
        return self

    def _embed(self, text: str) -> torch.Tensor:
        vec = torch.zeros(self.vocab_size)
        for word in _WORD.findall(text.lower()):
            h = zlib.crc32((self.salt + "\x00" + word).encode("utf-8"))
            vec[h % self.vocab_size] += 1 + (h >> 16) % 3
        return vec

    def encode(self, sentences, prompt_name=None, prompt=None, batch_size=32, show_progress_bar=None,
               convert_to_tensor=True, convert_to_sparse_tensor=True, save_to_cpu=False, max_active_dims=None,
               **kwargs):
        if prompt is None and prompt_name is not None:
            prompt = self.prompts[prompt_name]
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        rows = [self._embed((prompt or "") + t) for t in texts]
        emb = torch.stack(rows) if rows else torch.zeros(0, self.vocab_size)
        if max_active_dims is not None:
            # stable descending sort: ties keep the lowest index
            keep = torch.sort(emb, dim=1, descending=True, stable=True).indices[:, :max_active_dims]
            emb = torch.zeros_like(emb).scatter_(1, keep, emb.gather(1, keep))
        if convert_to_sparse_tensor:
            emb = emb.to_sparse()
        out = emb if convert_to_tensor else list(emb)
        return out[0] if single else out

    def encode_query(self, sentences, prompt_name=None, prompt=None, **kwargs):
        if prompt is None and prompt_name is None:
            prompt_name = "query"
        return self.encode(sentences, prompt_name=prompt_name, prompt=prompt, **kwargs)

    def encode_document(self, sentences, prompt_name=None, prompt=None, **kwargs):
        if prompt is None and prompt_name is None:
            prompt_name = "document"
        return self.encode(sentences, prompt_name=prompt_name, prompt=prompt, **kwargs)

    @staticmethod
    def sparsity(embeddings):
        from embedkit.sparse_encoder.model import SparseEncoder

        return SparseEncoder.sparsity(embeddings)

    def similarity(self, a, b):
        from embedkit.util import SimilarityFunction

        return SimilarityFunction.to_similarity_fn(self.similarity_fn_name)(a, b)


def load_model(key: str, library: str):
    """A model for a key: the hash model (shared by both libraries) or a fixture loaded by ``library``."""
    if key.startswith("hash"):
        return HashSparseModel(salt="teacher" if key == "hash_teacher" else "")
    if library == "st":
        from sentence_transformers import SparseEncoder
    else:
        from embedkit.sparse_encoder import SparseEncoder
    return SparseEncoder(str(MODELS[key]), device="cpu")


def rrf_samples(data: Path) -> tuple[list[dict], list[dict]]:
    """Deterministic dense / sparse rankings over scifact_mini ids (positives at varied ranks, some missing)."""
    from embedkit.datasets_io import load_beir

    corpus, queries, qrels = load_beir(data / "scifact_mini")
    ids = sorted(corpus)
    dense, sparse = [], []
    for i, qid in enumerate(sorted(queries)):
        rng = random.Random(i)
        positives = sorted(qrels[qid])
        pool = [c for c in rng.sample(ids, 40) if c not in qrels[qid]]
        d_docs, s_docs = pool[:15], pool[5:25]
        if i % 5 != 4:  # every fifth query: no positive in the dense ranking
            d_docs.insert(rng.randrange(0, 15), positives[0])
        if i % 7 != 3:  # some queries: no positive in the sparse ranking
            for p in positives:
                s_docs.insert(rng.randrange(0, 20), p)
        positive = positives[0] if i % 3 == 0 else positives  # a plain string for every third query
        dense.append({"query_id": qid, "query": queries[qid], "positive": positive, "documents": d_docs})
        sparse.append({"query_id": qid, "query": queries[qid], "positive": positive, "documents": s_docs})
    return dense, sparse


def sparse_specs(data: Path) -> dict[str, tuple[str, dict]]:
    """name -> (evaluator class name, kwargs); shared with tests/sparse_encoder/test_evaluation.py."""
    from tests.generate_eval_fixtures import evaluator_specs

    dense = evaluator_specs(data)  # reuse the dense slices (STS-B, MRPC, SNLI, SciFact samples)
    sts = {k: v[:60] for k, v in dense["sts_default"][1].items()}
    mrpc = {k: v[:80] for k, v in dense["mrpc_default"][1].items()}
    trip = dense["triplet_default"][1]
    ir_common = dense["ir_default"][1]
    samples = dense["rerank_default"][1]["samples"]
    rrf_dense, rrf_sparse = rrf_samples(data)
    return {
        "sts_default": ("SparseEmbeddingSimilarityEvaluator", dict(sts)),
        "sts_all": ("SparseEmbeddingSimilarityEvaluator", dict(sts, similarity_fn_names=FNS, name="sts",
                                                               max_active_dims=16)),
        "sts_main_cos": ("SparseEmbeddingSimilarityEvaluator", dict(sts, main_similarity="cosine")),
        "mrpc_default": ("SparseBinaryClassificationEvaluator", dict(mrpc)),
        "mrpc_all": ("SparseBinaryClassificationEvaluator", dict(mrpc, similarity_fn_names=FNS, name="mrpc",
                                                                 max_active_dims=16)),
        "triplet_default": ("SparseTripletEvaluator", dict(trip)),
        "triplet_all": ("SparseTripletEvaluator", dict(trip, similarity_fn_names=FNS, margin={"dot": 0.5},
                                                       name="snli", max_active_dims=16)),
        "ir_default": ("SparseInformationRetrievalEvaluator", dict(ir_common)),
        "ir_options": ("SparseInformationRetrievalEvaluator", dict(
            ir_common, name="scifact", corpus_chunk_size=37, mrr_at_k=[3, 10], ndcg_at_k=[5, 10],
            accuracy_at_k=[1, 2], precision_recall_at_k=[2, 20], map_at_k=[10, 100], max_active_dims=16,
            query_prompt="search: ", corpus_prompt="doc: ")),
        "rerank_default": ("SparseRerankingEvaluator", dict(samples=samples)),
        "rerank_dot_individual": ("SparseRerankingEvaluator", dict(samples=samples, at_k=3, name="rr",
                                                                   use_batched_encoding=False,
                                                                   similarity_fct="dot_score", max_active_dims=16)),
        "mse": ("SparseMSEEvaluator", dict(source_sentences=sts["sentences1"][:40],
                                           target_sentences=sts["sentences2"][:40], name="stsb")),
        "mse_mad": ("SparseMSEEvaluator", dict(source_sentences=sts["sentences2"][:40],
                                               target_sentences=sts["sentences1"][:40], max_active_dims=8)),
        "translation": ("SparseTranslationEvaluator", dict(dense["translation"][1], max_active_dims=32)),
        "nanobeir": ("SparseNanoBEIREvaluator", dict(dataset_folders={"scifact": "scifact_mini",
                                                                      "quoraretrieval": "mrpc_retrieval"})),
        "nanobeir_mad": ("SparseNanoBEIREvaluator", dict(dataset_folders={"scifact": "scifact_mini"},
                                                         max_active_dims=8, aggregate_key="avg")),
        "rrf_default": ("ReciprocalRankFusionEvaluator", dict(dense_samples=rrf_dense, sparse_samples=rrf_sparse)),
        "rrf_options": ("ReciprocalRankFusionEvaluator", dict(dense_samples=rrf_dense, sparse_samples=rrf_sparse,
                                                              at_k=5, rrf_k=2, name="hybrid")),
    }


def _local_nanobeir(folders: dict[str, Path], **kwargs):
    from sentence_transformers.sentence_transformer.evaluation.nano_beir import DATASET_NAME_TO_HUMAN_READABLE
    from sentence_transformers.sparse_encoder.evaluation import SparseNanoBEIREvaluator

    from embedkit.datasets_io import load_beir

    split_to_name = {f"Nano{human}": name for name, human in DATASET_NAME_TO_HUMAN_READABLE.items()}

    class Local(SparseNanoBEIREvaluator):
        def _load_dataset_subset_split(self, subset, split, required_columns):
            corpus, queries, qrels = load_beir(folders[split_to_name[split]], include_title=False)
            if subset == "corpus":
                return [{"_id": k, "text": v} for k, v in corpus.items()]
            if subset == "queries":
                return [{"_id": k, "text": v} for k, v in queries.items()]
            return [{"query-id": q, "corpus-id": c} for q, cs in qrels.items() for c in sorted(cs)]

    return Local(dataset_names=list(folders), **kwargs)


def build_st(kind: str, kwargs: dict, teacher=None):
    from sentence_transformers import util
    from sentence_transformers.sparse_encoder import evaluation as ev

    kwargs = dict(kwargs)
    if kwargs.get("similarity_fct") == "dot_score":
        kwargs["similarity_fct"] = util.dot_score
    if kind == "SparseMSEEvaluator":
        kwargs["teacher_model"] = teacher
    if kind == "SparseNanoBEIREvaluator":
        return _local_nanobeir({k: DATA / v for k, v in kwargs.pop("dataset_folders").items()}, **kwargs)
    return getattr(ev, kind)(**kwargs)


def main() -> None:
    from sentence_transformers import __version__

    specs = sparse_specs(DATA)
    models = {key: load_model(key, "st") for key in [*MODELS, "hash_teacher"]}
    golden: dict = {"sentence_transformers": __version__, "evaluators": {}}
    for model_key in MODELS:
        model = models[model_key]
        for name, (kind, kwargs) in specs.items():
            if kind == "ReciprocalRankFusionEvaluator" and model_key != "hash":
                continue  # model-free
            evaluator = build_st(kind, kwargs, models[TEACHER[model_key]])
            with tempfile.TemporaryDirectory() as tmp:
                if kind == "ReciprocalRankFusionEvaluator":
                    metrics = evaluator(output_path=tmp, epoch=1, steps=5)
                else:
                    metrics = evaluator(model, output_path=tmp, epoch=1, steps=5)
                files = {p.name: p.read_bytes().decode("utf-8") for p in sorted(Path(tmp).iterdir())}
            golden["evaluators"][f"{model_key}/{name}"] = {
                "metrics": {k: float(v) for k, v in metrics.items()}, "primary": evaluator.primary_metric,
                "greater_is_better": evaluator.greater_is_better,
                "config": json.loads(json.dumps(evaluator.get_config_dict(), default=str)), "csv": files}
            print(model_key, name, evaluator.primary_metric, metrics[evaluator.primary_metric])
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "golden.json").write_text(json.dumps(golden, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT / 'golden.json'} ({(OUT / 'golden.json').stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
