"""Behaviour beyond the formulas: GIST re-tokenization, SoftmaxLoss options, Contrastive Tension data/labels,
EmbedDistill projection I/O, the mini-batched MegaBatchMarginLoss, and merged column forwards."""

from __future__ import annotations

import pytest
import torch

import embedkit.sentence_transformer.losses as L
from embedkit.sentence_transformer.losses._columns import embed_columns, merge_columns
from tests.losses.helpers import build, case_by_name, load_model


@pytest.mark.parametrize("name", ["gist_retok", "gist_retok_neg", "gist_same_tok"])
def test_gist_retokenizes_exactly_when_sentence_transformers_does(name):
    spec = case_by_name(name)
    loss, features, _ = build(spec)
    assert loss.must_retokenize == spec["expected"]["must_retokenize"]
    if loss.must_retokenize:
        # The guide sees the same decoded texts as in sentence-transformers.
        decoded = [[loss.tokenizer.decode(ids.tolist(), skip_special_tokens=True) for ids in f["input_ids"]]
                   for f in features]
        assert decoded == spec["expected"]["decoded"]


def test_gist_shorter_guide_max_length_forces_retokenization():
    model, guide = load_model("tiny_bert_v6"), load_model("tiny_bert_v6")
    assert not L.GISTEmbedLoss(model, guide).must_retokenize
    guide.max_seq_length = model.max_seq_length - 1
    assert L.GISTEmbedLoss(model, guide).must_retokenize


def test_gist_guide_gets_no_gradient():
    loss, features, labels = build(case_by_name("gist_same_tok"))
    loss(features, labels).backward()
    assert all(p.grad is None for p in loss.guide.parameters())
    assert any(p.grad is not None for p in loss.model.parameters())


def test_softmax_loss_accepts_v5_dimension_name_and_returns_logits_without_labels():
    model = load_model("tiny_bert_v6")
    with pytest.warns(DeprecationWarning, match="sentence_embedding_dimension"):
        loss = L.SoftmaxLoss(model, sentence_embedding_dimension=16, num_labels=4,
                             concatenation_sent_multiplication=True)
    assert loss.classifier.in_features == 4 * 16 and loss.classifier.out_features == 4
    feats = [model.preprocess(["a b", "c d"]), model.preprocess(["e f", "g h"])]
    reps, logits = loss(feats, None)
    assert logits.shape == (2, 4) and len(reps) == 2
    assert "classifier.weight" in dict(loss.named_parameters())  # trained along with the model


def test_contrastive_tension_detects_identical_pairs_and_keeps_two_models():
    model = load_model("tiny_bert_v6")
    loss = L.ContrastiveTensionLoss(model)
    assert loss.model2 is model and loss.model1 is not model
    a = model.preprocess(["same text", "one text", "x"])
    b = model.preprocess(["same text", "another text here", "x"])
    labels = L.ContrastiveTensionLoss._identical_rows(a, b)
    assert labels.tolist() == [True, False, True]
    explicit = loss([a, b], torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(loss([a, b], None), explicit)


def test_contrastive_tension_data_loader_batches():
    sentences = [f"sentence {i}" for i in range(30)]
    loader = L.ContrastiveTensionDataLoader(list(sentences), batch_size=4, pos_neg_ratio=2)
    assert len(loader) == 30 // (2 * 4 - 2)
    batches = list(loader)
    assert len(batches) == len(loader)
    for batch in batches:
        assert [ex.label for ex in batch] == [1, 0, 1, 0]
        for ex in batch:
            assert (ex.texts[0] == ex.texts[1]) == bool(ex.label)


def test_embed_distill_projection_round_trip(tmp_path):
    model = load_model("tiny_bert_v6")
    loss = L.EmbedDistillLoss(model, projection_dim=5)
    loss.save_projection(tmp_path / "proj.safetensors")
    fresh = L.EmbedDistillLoss(model)
    fresh.load_projection(tmp_path / "proj.safetensors")
    assert fresh.projection_dim == 5
    torch.testing.assert_close(fresh.projection.weight, loss.projection.weight)
    with pytest.raises(ValueError, match="does not match the configured"):
        L.EmbedDistillLoss(model, projection_dim=3).load_projection(tmp_path / "proj.safetensors")
    with pytest.raises(ValueError, match="No projection layer to save"):
        fresh_no = L.EmbedDistillLoss(model)
        fresh_no.save_projection(tmp_path / "none.safetensors")


def test_mega_batch_margin_mini_batched_equals_full_batch():
    spec = case_by_name("mega_batch_margin")
    loss, features, labels = build(spec)
    full = loss(features, labels)
    full.backward()
    grads = {n: p.grad.clone() for n, p in loss.named_parameters() if p.grad is not None}
    loss.zero_grad()
    loss.use_mini_batched_version, loss.mini_batch_size = True, 4
    mini = loss(features, labels)
    mini.backward()
    torch.testing.assert_close(mini, full)
    scale = max(float(g.abs().max()) for g in grads.values())
    for name, p in loss.named_parameters():
        if name in grads:  # up to float noise of a different padding/chunking, relative to the largest gradient
            torch.testing.assert_close(p.grad, grads[name], rtol=1e-3, atol=1e-5 * scale)


def test_merged_column_forward_equals_separate_forwards():
    model = load_model("tiny_bert_v6")
    cols = [["a short one", "two"], ["a much longer sentence than the others", "x"], ["mid length text", "y z"]]
    feats = [model.preprocess(c) for c in cols]
    assert merge_columns(feats[1:])["input_ids"].shape[0] == 4
    merged = embed_columns(model, feats)
    separate = [model(f)["sentence_embedding"] for f in feats]
    for m, s in zip(merged, separate):
        torch.testing.assert_close(m, s, rtol=1e-4, atol=2e-5)  # padding changes the float summation order
    # Columns that disagree on a per-batch value are not merged.
    odd = [dict(feats[1], task="query"), dict(feats[2], task="document")]
    assert merge_columns(odd) is None


@pytest.mark.parametrize("kind", ["softmax", "gor"])
def test_losses_train_one_step_with_the_trainer(tmp_path, kind):
    from embedkit.base.trainer import SentenceTransformerTrainer
    from embedkit.base.training_args import SentenceTransformerTrainingArguments

    model = load_model("tiny_bert_v6")
    data = {"sentence1": ["a cat", "a dog", "a car", "a bus"], "sentence2": ["kitten", "puppy", "truck", "tram"]}
    if kind == "softmax":
        data["label"] = [0, 1, 2, 1]
        loss = L.SoftmaxLoss(model, model.get_embedding_dimension(), num_labels=3)
        watched = loss.classifier.weight
    else:
        loss = L.GlobalOrthogonalRegularizationLoss(model)
        watched = model[2].linear.weight
    before = watched.detach().clone()
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=1,
                                                learning_rate=1e-2, save_strategy="no", disable_tqdm=True)
    SentenceTransformerTrainer(model, args, train_dataset=data, loss=loss).train()
    assert not torch.equal(before, watched.detach())  # the loss's own layer / the model was optimized
