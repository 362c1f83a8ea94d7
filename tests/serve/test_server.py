"""``embedkit serve`` in-process on a free loopback port: every route against the models' own outputs, batching,
errors, limits, overload (429), timeouts (504)."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from embedkit import CrossEncoder, SentenceTransformer, SparseEncoder
from embedkit.serve.app import EmbeddingServer, ServeConfig
from tests.serve.server_helpers import ServerThread, call

FIX = Path(__file__).resolve().parents[1] / "fixtures"
TEXTS = ["hello world", "a much longer sentence about cats, dogs and the weather in spring", "x",
         "short one", "another text of middling length here"]


@pytest.fixture(scope="module")
def models():
    return (SentenceTransformer(str(FIX / "tiny_bert_v6")), CrossEncoder(str(FIX / "ce_bert1")),
            SparseEncoder(str(FIX / "se_bert_v6")))


@pytest.fixture(scope="module")
def served(models):
    """(port, server) of a server with all three models; a wide batching window so concurrent requests meet."""
    model, reranker, sparse = models
    server = EmbeddingServer(model, ServeConfig(port=0, max_wait_ms=30, max_inputs_per_request=8,
                                                max_body_bytes=16 * 1024), reranker=reranker, sparse=sparse,
                             model_id="tiny")
    with ServerThread(server) as port:
        yield port, server


def test_start_warms_up_every_served_encoder_before_the_port_opens_unless_turned_off(models, monkeypatch):
    """The oneDNN kernels of every batch size are built first (``InferenceEngine.warm_up``: that it covers every
    kernel is tested in tests/encoders/test_engine.py), for the encoder inside each served model."""
    from embedkit.encoders.engine import ENGINE_ENCODERS, InferenceEngine

    warmed = []
    monkeypatch.setattr(InferenceEngine, "warm_up", lambda engine: warmed.append(engine.encoder) or 64)
    model, reranker, sparse = models
    encoders = [m for served in models for m in served.modules() if type(m) in ENGINE_ENCODERS]
    assert len(encoders) == 3
    for on in (True, False):
        warmed.clear()
        server = EmbeddingServer(model, ServeConfig(port=0, warm_up=on), reranker=reranker, sparse=sparse)
        with ServerThread(server):
            assert server.warm_up_row_counts == (3 * 64 if on else 0)
        assert sorted(map(id, warmed)) == (sorted(map(id, encoders)) if on else [])


def test_embed_equals_encode(served, models):
    port, _ = served
    model = models[0]
    status, _, body = call(port, "POST", "/embed", {"inputs": TEXTS})
    assert status == 200
    np.testing.assert_allclose(np.array(body), model.encode(TEXTS, normalize_embeddings=True), atol=1e-6)
    status, _, body = call(port, "POST", "/embed", {"inputs": "hello world", "normalize": False,
                                                    "prompt_name": "query"})
    assert status == 200 and len(body) == 1  # one string still gives a list of one vector, as TEI does
    np.testing.assert_allclose(body[0], model.encode("hello world", prompt_name="query"), atol=1e-6)
    assert not np.allclose(body[0], model.encode("hello world"), atol=1e-3)  # the prompt changed it


def test_openai_embeddings_float_base64_dimensions_usage(served, models):
    port, _ = served
    model = models[0]
    request = {"input": TEXTS[:3], "model": "my-name", "dimensions": 8}
    status, _, body = call(port, "POST", "/v1/embeddings", request)
    assert status == 200 and body["object"] == "list" and body["model"] == "my-name"
    assert [d["index"] for d in body["data"]] == [0, 1, 2] and body["data"][0]["object"] == "embedding"
    expected = model.encode(TEXTS[:3], truncate_dim=8, normalize_embeddings=True)
    np.testing.assert_allclose([d["embedding"] for d in body["data"]], expected, atol=1e-6)
    tokens = int(model.tokenizer.batch_features(TEXTS[:3])["attention_mask"].sum())
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    _, _, b64 = call(port, "POST", "/v1/embeddings", {**request, "encoding_format": "base64"})
    decoded = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in b64["data"]]
    np.testing.assert_array_equal(decoded, np.array([d["embedding"] for d in body["data"]], dtype=np.float32))
    _, _, default = call(port, "POST", "/v1/embeddings", {"input": "hi"})
    assert default["model"] == "tiny" and len(default["data"][0]["embedding"]) == model.get_embedding_dimension()


def test_rerank_scores_order_and_text(served, models):
    port, _ = served
    reranker = models[1]
    query, texts = "what do cats eat", TEXTS
    status, _, body = call(port, "POST", "/rerank", {"query": query, "texts": texts, "return_text": True})
    assert status == 200 and sorted(r["index"] for r in body) == list(range(len(texts)))
    scores = [r["score"] for r in body]
    assert scores == sorted(scores, reverse=True)
    expected = reranker.predict([(query, t) for t in texts])
    np.testing.assert_allclose([expected[r["index"]] for r in body], scores, atol=1e-6)
    assert all(r["text"] == texts[r["index"]] for r in body)
    _, _, raw = call(port, "POST", "/rerank", {"query": query, "texts": texts, "raw_scores": True})
    logits = reranker.predict([(query, t) for t in texts], activation_fn=torch.nn.Identity())
    np.testing.assert_allclose([logits[r["index"]] for r in raw], [r["score"] for r in raw], atol=1e-6)
    assert "text" not in raw[0] and not np.allclose(sorted(logits), sorted(expected), atol=1e-3)


def test_embed_sparse_equals_encode(served, models):
    port, _ = served
    sparse = models[2]
    status, _, body = call(port, "POST", "/embed_sparse", {"inputs": TEXTS[:2]})
    assert status == 200 and len(body) == 2
    dense = sparse.encode(TEXTS[:2], convert_to_sparse_tensor=False).numpy()
    for row, entries in zip(dense, body):
        assert [e["index"] for e in entries] == np.nonzero(row)[0].tolist()
        np.testing.assert_allclose([e["value"] for e in entries], row[np.nonzero(row)[0]], atol=1e-6)


def test_health_info_metrics(served, models):
    port, _ = served
    assert call(port, "GET", "/health")[:1] == (200,)
    status, _, info = call(port, "GET", "/info")
    assert status == 200 and info["model_id"] == "tiny"
    assert info["dimension"] == models[0].get_embedding_dimension()
    assert info["max_input_length"] == models[0].max_seq_length and info["version"]
    assert info["model_dtype"] == "float32"
    call(port, "POST", "/embed", {"inputs": "count me"})
    status, headers, text = call(port, "GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    for name in ("embedkit_requests_total{endpoint=\"/embed\",status=\"200\"}", "embedkit_batch_size_bucket",
                 "embedkit_batch_tokens_bucket", "embedkit_queue_depth 0", "embedkit_request_duration_seconds_bucket"):
        assert name in text


def test_keep_alive_serves_several_requests_on_one_connection(served):
    port, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for text in ("one", "two", "three"):
            status, headers, _ = call(port, "POST", "/embed", {"inputs": text}, conn=conn)
            assert status == 200 and headers["connection"] == "keep-alive"
    finally:
        conn.close()


def test_concurrent_mixed_requests_are_batched_and_equal_single_requests(served, models):
    port, server = served
    model = models[0]
    before = sum(server.metrics.batch_size._counts.get("", [0]))
    requests = []
    for i in range(12):
        texts = [TEXTS[(i + j) % len(TEXTS)] + " #" * (i % 4) for j in range(1 + i % 3)]
        requests.append({"inputs": texts, "normalize": i % 2 == 0, "dimensions": 16 if i % 3 == 0 else None,
                         "prompt_name": "query" if i % 4 == 1 else None})
    barrier = threading.Barrier(len(requests))

    def send(request):
        barrier.wait()
        return call(port, "POST", "/embed", request)

    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(send, requests))
    for request, (status, _, body) in zip(requests, answers):
        assert status == 200
        expected = model.encode(request["inputs"], normalize_embeddings=request["normalize"],
                                truncate_dim=request["dimensions"], prompt_name=request["prompt_name"])
        np.testing.assert_allclose(np.array(body), expected, atol=1e-6, rtol=0)
    batches = sum(server.metrics.batch_size._counts[""]) - before
    assert batches < len(requests)  # requests shared forward passes


@pytest.mark.parametrize("raw, field, status", [
    (b"{not json", None, 400), (b"[1, 2]", None, 400), (b'{"inputs": 3}', "inputs", 422),
    (b'{"inputs": ["a", 2]}', "inputs", 422), (b'{"inputs": []}', "inputs", 422), (b"{}", "inputs", 422),
    (b'{"inputs": "a", "normalize": "yes"}', "normalize", 422),
    (b'{"inputs": "a", "prompt_name": "nope"}', "prompt_name", 422),
    (b'{"inputs": "a", "dimensions": 0}', "dimensions", 422),
    (b'{"inputs": ["a", "b", "c", "d", "e", "f", "g", "h", "i"]}', "inputs", 413),
    pytest.param(b"[" * 5_000 + b"]" * 5_000, None, 400, id="nested-past-the-recursion-limit"),
    (b'{"inputs": ["a\\ud800b"]}', None, 400),  # a lone surrogate escape: not Unicode text
])
def test_bad_embed_bodies_are_json_errors_naming_the_field(served, raw, field, status):
    port, _ = served
    got, _, body = call(port, "POST", "/embed", raw=raw)
    assert got == status and isinstance(body["error"], str) and "Traceback" not in body["error"]
    assert body.get("field") == field


@pytest.mark.parametrize("path, raw, field", [
    ("/v1/embeddings", b'{"input": "a", "encoding_format": "hex"}', "encoding_format"),
    ("/v1/embeddings", b'{"input": [1, 2]}', "input"),
    ("/rerank", b'{"texts": ["a"]}', "query"), ("/rerank", b'{"query": "q", "texts": "a"}', "texts"),
    ("/rerank", b'{"query": "q", "texts": ["a"], "raw_scores": 1}', "raw_scores"),
    ("/rerank", b'{"query": "q", "texts": ["a"], "truncation_direction": "Left"}', "truncation_direction"),
    ("/embed", b'{"inputs": "a", "truncation_direction": "left"}', "truncation_direction"),
])
def test_bad_bodies_of_other_routes(served, path, raw, field):
    status, _, body = call(served[0], "POST", path, raw=raw)
    assert status == 422 and body["field"] == field


def test_surrogate_pairs_are_text_and_lone_surrogates_are_refused_on_every_route(served):
    port, _ = served
    status, _, body = call(port, "POST", "/rerank", raw=b'{"query": "q\\ud83d\\ude00", "texts": ["a"], '
                                                          b'"return_text": true}')
    assert status == 200
    for path, raw in [("/rerank", b'{"query": "q", "texts": ["a\\ud800b"], "return_text": true}'),
                      ("/v1/embeddings", b'{"input": "\\udfff"}'), ("/embed_sparse", b'{"inputs": "x\\uDC00"}')]:
        status, _, body = call(port, "POST", path, raw=raw)
        assert status == 400 and "lone surrogate" in body["error"] and body["error_type"] == "Validation", path


def test_routes_methods_and_body_size(served):
    port, _ = served
    status, _, body = call(port, "GET", "/nope")
    assert status == 404 and "/embed" in body["error"]
    status, headers, body = call(port, "GET", "/embed")
    assert status == 405 and headers["allow"] == "POST"
    for size in (20_000, 1_000_000):  # the refused body is drained, so the client reads the answer
        status, _, body = call(port, "POST", "/embed", {"inputs": "x" * size})
        assert status == 413 and "limit" in body["error"]
    assert call(port, "GET", "/health")[0] == 200  # the server is still fine
    metrics = call(port, "GET", "/metrics")[2]  # unknown paths share one label: no series per path
    assert 'endpoint="other",status="404"' in metrics and "/nope" not in metrics


def test_too_long_inputs_truncate_or_413():
    model = SentenceTransformer(str(FIX / "tiny_bert_v6"))
    server = EmbeddingServer(model, ServeConfig(port=0, max_input_tokens=8, truncate=False))
    long_text = "word " * 30
    with ServerThread(server) as port:
        status, _, body = call(port, "POST", "/embed", {"inputs": ["ok", long_text]})
        assert status == 413 and body["field"] == "inputs" and "input 1" in body["error"]
        status, _, body = call(port, "POST", "/v1/embeddings", {"input": long_text, "truncate": True})
        assert status == 200 and body["usage"]["prompt_tokens"] == 8
        reference = SentenceTransformer(str(FIX / "tiny_bert_v6"))
        reference.max_seq_length = 8
        np.testing.assert_allclose(body["data"][0]["embedding"], reference.encode(long_text, normalize_embeddings=True),
                                   atol=1e-6)


def test_full_queue_answers_429_with_retry_after_and_missing_model_424(models):
    server = EmbeddingServer(models[0], ServeConfig(port=0, max_queued_inputs=4, max_inputs_per_request=4,
                                                    max_wait_ms=400))
    with ServerThread(server) as port:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(call, port, "POST", "/embed", {"inputs": ["a", "b", "c", "d"]})
            deadline = time.monotonic() + 5
            while server.batcher.depth < 4 and time.monotonic() < deadline:
                time.sleep(0.005)
            status, headers, body = call(port, "POST", "/embed", {"inputs": "one more"})
            assert status == 429 and headers["retry-after"] == "1" and body["error_type"] == "Overloaded"
            assert first.result()[0] == 200
        assert call(port, "POST", "/embed", {"inputs": "now it fits"})[0] == 200
        status, _, body = call(port, "POST", "/rerank", {"query": "q", "texts": ["a"]})
        assert status == 424 and "--reranker" in body["error"]
        metrics = call(port, "GET", "/metrics")[2]
        assert 'embedkit_requests_total{endpoint="/embed",status="429"} 1' in metrics


def test_request_timeout_answers_504(models):
    server = EmbeddingServer(models[0], ServeConfig(port=0, max_wait_ms=1000, request_timeout_s=0.1))
    with ServerThread(server) as port:
        start = time.monotonic()
        status, _, body = call(port, "POST", "/embed", {"inputs": "slow"})
        assert status == 504 and body["error_type"] == "Timeout" and time.monotonic() - start < 0.9


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom embedkit.cli import main\ncode = main(['serve', '--help'])\n"
            "print(json.dumps([code, 'torch' in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0, False], done.stderr


def test_token_counts_match_the_model_tokenizer_and_ignore_its_padding_state(models):
    from embedkit.serve.inference import TokenCounter

    model, reranker, _ = models
    model.tokenizer.batch_features(["a", "a much longer text to pad to"])  # leaves the tokenizer padding to the longest
    counter = TokenCounter(model.tokenizer, limit=12)
    texts = ["hello world", "a much longer sentence about cats, dogs and the weather in spring", "x"]
    expected = [min(int(n), 13) for n in model.tokenizer.batch_features(texts, max_length=100)["attention_mask"].sum(1)]
    assert counter.count(texts) == counter.count_short(texts) == expected and expected[1] == 13
    prompted = [int(n) for n in model.tokenizer.batch_features(["query: x"])["attention_mask"].sum(1)]
    assert counter.count(["x"], prompt="query: ") == counter.count_short(["x"], prompt="query: ") == prompted
    pair_counter = TokenCounter(reranker.tokenizer, limit=512)
    pairs = [("a question", "an answer here"), ("q", "d")]
    pair_expected = [int(n) for n in reranker.tokenizer.batch_features(pairs)["attention_mask"].sum(1)]
    assert pair_counter.count(pairs) == pair_counter.count_short(pairs) == pair_expected


def test_a_quantized_model_is_served_and_reported_as_int8():
    model = SentenceTransformer(str(FIX / "tiny_bert_v6"), device="cpu")
    fp32 = model.encode(TEXTS, normalize_embeddings=True)
    model.quantize("int8")
    with ServerThread(EmbeddingServer(model, ServeConfig(port=0), model_id="tiny-int8")) as port:
        status, _, info = call(port, "GET", "/info")
        assert status == 200 and info["model_dtype"] == "int8"
        status, _, body = call(port, "POST", "/embed", {"inputs": TEXTS})
    assert status == 200
    np.testing.assert_allclose(np.array(body), model.encode(TEXTS, normalize_embeddings=True), atol=1e-6)
    assert ((np.array(body) * fp32).sum(axis=1) >= 0.99).all()


def test_chat_template_models_are_served_and_counted_as_rendered(tmp_path):
    """A model that renders inputs through a chat template (an embedder on a plain decoder folder, a causal-LM
    reranker with Qwen3-Reranker's template): responses equal encode / predict, usage counts the rendered tokens."""
    from embedkit.base.modules import Transformer
    from embedkit.sentence_transformer.modules import Pooling
    from tests.chat_template_cases import TEMPLATES, plain_transformers_folder
    from tests.generate_causal_reranker_fixtures import QWEN3_RERANKER_TEMPLATE

    transformer = Transformer(str(plain_transformers_folder("qwen3_st", tmp_path / "embedder")),
                              processor_kwargs={"chat_template": TEMPLATES["chatml"]})
    model = SentenceTransformer(modules=[transformer, Pooling(32, "lasttoken")], device="cpu")
    reranker = CrossEncoder(str(FIX / "qwen3_reranker_lm"), device="cpu",
                            processor_kwargs={"chat_template": QWEN3_RERANKER_TEMPLATE})
    texts = ["hello world", "a much longer sentence about cats"]
    with ServerThread(EmbeddingServer(model, ServeConfig(port=0), reranker=reranker)) as port:
        status, _, body = call(port, "POST", "/v1/embeddings", {"input": texts})
        assert status == 200
        rendered = sum(int(n) for n in model.tokenize(texts)["attention_mask"].sum(1))
        assert body["usage"]["prompt_tokens"] == rendered > sum(len(model.tokenizer.tokenize(t)) + 1 for t in texts)
        np.testing.assert_allclose(np.array([d["embedding"] for d in body["data"]]),
                                   model.encode(texts, normalize_embeddings=True), atol=1e-6)
        status, _, hits = call(port, "POST", "/rerank", {"query": "what is a cat", "texts": texts,
                                                         "raw_scores": True})
    assert status == 200
    expected = reranker.predict([("what is a cat", t) for t in texts], activation_fn=torch.nn.Identity())
    np.testing.assert_allclose([h["score"] for h in sorted(hits, key=lambda h: h["index"])], expected, atol=1e-6)
