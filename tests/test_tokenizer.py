"""Token ids equal sentence-transformers' (committed goldens) on unicode, empty, whitespace and very long texts."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from embedkit.tokenizer import Tokenizer
from tests.conftest import FIXTURES, golden


@pytest.mark.parametrize("name, type_ids", [("tiny_bert_v6", True), ("tiny_mpnet_v6", False)])
def test_ids_match_st(name, type_ids, texts):
    g = golden(name)
    max_length = 128 if name == "tiny_bert_v6" else 512
    tok = Tokenizer(FIXTURES / name, return_token_type_ids=type_ids)
    out = tok.batch_features(texts["tiny"], max_length=max_length)
    np.testing.assert_array_equal(out["input_ids"].numpy(), g["input_ids"])
    np.testing.assert_array_equal(out["attention_mask"].numpy(), g["attention_mask"])
    pairs = tok.batch_features([tuple(p) for p in texts["pairs"]], max_length=max_length)
    np.testing.assert_array_equal(pairs["input_ids"].numpy(), g["pair_input_ids"])
    if type_ids:
        np.testing.assert_array_equal(pairs["token_type_ids"].numpy(), g["pair_token_type_ids"])
    else:
        assert "token_type_ids" not in pairs


def test_vocab_txt_only_builds_the_same_tokenizer(tmp_path, texts):
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(FIXTURES / "tiny_bert_hf" / name, tmp_path / name)
    built = Tokenizer(tmp_path).batch_features(texts["tiny"], max_length=128)
    np.testing.assert_array_equal(built["input_ids"].numpy(), golden("tiny_bert_v6")["input_ids"])


def test_real_minilm_ids_untruncated_and_truncated(minilm_path, texts):
    tok = Tokenizer(minilm_path)
    assert tok.encode_ids(texts["long"], max_length=10**6) == texts["long_ids_untruncated"]
    truncated = tok.encode_ids(texts["long"], max_length=256)
    for full, cut in zip(texts["long_ids_untruncated"], truncated):
        assert cut == (full if len(full) <= 256 else full[:255] + [102])
    assert len(truncated[0]) == 256
    np.testing.assert_array_equal(tok.batch_features(texts["real"], max_length=256)["input_ids"].numpy(),
                                  golden("minilm_golden")["input_ids"])


def test_do_lower_case_lowercases_before_a_cased_vocabulary(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "Hello"]) + "\n")
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    assert Tokenizer(tmp_path).encode_ids(["Hello"])[0] == [2, 5, 3]
    assert Tokenizer(tmp_path, do_lower_case=True).encode_ids(["Hello"])[0] == [2, 4, 3]


def test_missing_tokenizer_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json, vocab.txt and vocab.json"):
        Tokenizer(tmp_path)


class _RecordingBackend:
    """A tokenizers.Tokenizer stand-in that records the longest text it was asked to tokenize."""

    def __init__(self, backend):
        self.backend, self.longest = backend, 0

    def _seen(self, item):
        for text in item if isinstance(item, (tuple, list)) else (item,):
            self.longest = max(self.longest, len(text) if isinstance(text, str) else 0)

    def encode(self, sequence, *args, **kwargs):
        self._seen(sequence)
        if args and isinstance(args[0], str):
            self._seen(args[0])
        return self.backend.encode(sequence, *args, **kwargs)

    def encode_batch(self, inputs, *args, **kwargs):
        for item in inputs:
            self._seen(item)
        return self.backend.encode_batch(inputs, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.backend, name)


# Every kind of input the cut handles, with pairs by how truncation splits them: one long text (single or either side
# of a pair), both long with the first longer, the second longer, equal counts (the same text twice) and the first
# longer by one token (the cuts must grow to keep the order); and the texts that must stay whole.
CUT_CASES = ["single", "long_first_short_second", "short_first_long_second", "both_long_first_longer",
             "both_long_second_longer", "both_long_equal", "both_long_first_longer_by_one_token", "no_spaces",
             "spaced_out"]


@pytest.mark.parametrize("case", CUT_CASES)
def test_cutting_long_texts_before_tokenizing_keeps_the_same_ids(case, monkeypatch):
    import random

    import embedkit.tokenizer as tokenizer_module
    from embedkit import SentenceTransformer

    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    rng = random.Random(0)
    words = ["alpha", "beta", "délta", "東京", "emoji😀", "x" * 30, "a-b", "c.d", "Word"]
    # Pairs are shorter: tokenizers itself, asked for the whole reference, builds every overflow combination of a
    # long pair (3,000 + 2,000 words at max_length 16 exhaust memory), which is what the cut spares the user.
    pair = case.startswith("both_long")
    long = " ".join(rng.choice(words) for _ in range(300 if pair else 3000))
    other = " ".join(rng.choice(words) for _ in range(200))
    batch = {
        "single": [long, "short"],
        "long_first_short_second": [(long, "a short query")],
        "short_first_long_second": [("a short query", long)],
        "both_long_first_longer": [(long, other)],
        "both_long_second_longer": [(other, long)],
        "both_long_equal": [(long, long)],
        "both_long_first_longer_by_one_token": [(long + " beta", long)],
        "no_spaces": ["y" * 20000],  # no word boundary to cut at: stays whole
        "spaced_out": ["a" + " " * 20000 + long + " " + long],  # the cut grows until it holds enough tokens
    }[case]
    for max_length in (16, 40) if pair else (16, 128):  # 13 and 37 tokens of room in a pair: odd, so the longer
        # text gets one more
        monkeypatch.setattr(tokenizer_module, "CHARS_PER_KEPT_TOKEN", 2)  # cut even these short texts
        monkeypatch.setattr(tokenizer_module, "COUNT_PIECE_CHARS", 500)  # and count them in pieces
        recording = _RecordingBackend(model.tokenizer.backend)
        monkeypatch.setattr(model.tokenizer, "backend", recording)
        cut = model.tokenizer.batch_features(batch, max_length=max_length)
        cut_ids = model.tokenizer.encode_ids(batch, max_length=max_length)
        monkeypatch.undo()
        longest_input = max(len(text) for item in batch for text in (item if isinstance(item, tuple) else (item,)))
        if case != "no_spaces":
            assert recording.longest < longest_input, "the longest text reached the tokenizer whole"
        monkeypatch.setattr(tokenizer_module, "CHARS_PER_KEPT_TOKEN", 10**9)  # never cut
        whole = model.tokenizer.batch_features(batch, max_length=max_length)
        assert cut_ids == model.tokenizer.encode_ids(batch, max_length=max_length)
        for key in whole:
            assert torch.equal(cut[key], whole[key]), (case, max_length, key)


def test_settings_of_one_call_never_leak_into_another():
    """The backend's padding and truncation are per-call settings of one shared object: ids without padding after a
    padded call, `tokenize` never truncated after a truncating call, copies tokenize alike, and threads mixing
    padded calls, short limits and long texts (whose cutting switches truncation off for a moment) each get their own
    call's result."""
    import copy
    import pickle
    import threading

    tok = Tokenizer(FIXTURES / "tiny_bert_v6")
    texts = ["a", "the quick brown fox jumps"]
    alone = tok.encode_ids(texts)
    tok.batch_features(texts)  # pads to the longest
    assert tok.encode_ids(texts) == alone
    assert len(tok.encode_ids(texts)[0]) < len(alone[1])
    long_text = "word " * 400
    tok.batch_features([long_text], max_length=8)
    assert len(tok.tokenize(long_text)) == 400
    for clone in (copy.deepcopy(tok), pickle.loads(pickle.dumps(tok))):
        assert clone.encode_ids(texts) == alone and clone._lock is not tok._lock

    calls = [
        lambda: tok.batch_features([long_text, "short"], max_length=12)["input_ids"].tolist(),
        lambda: tok.encode_ids(texts),
        lambda: tok.encode_ids([long_text], max_length=6),
        lambda: tok.batch_features([("q " * 300, "a " * 300)], max_length=10)["input_ids"].tolist(),
    ]
    expected = [call() for call in calls]
    wrong: list[tuple[int, object]] = []

    def worker(offset: int) -> None:
        for step in range(40):
            index = (offset + step) % len(calls)
            try:
                got = calls[index]()
            except Exception as exc:  # a ragged batch from another call's settings raises in torch.tensor
                got = exc
            if got != expected[index]:
                wrong.append((index, got))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong, wrong[:2]


def test_a_transformers_5_tokenizer_class_is_saved_under_the_name_both_generations_load(tmp_path):
    """transformers 5 names a plain tokenizer.json tokenizer ``TokenizersBackend``, which transformers 4 (ST 5.x)
    cannot load; ``PreTrainedTokenizerFast`` is the name both load (checked by hand with
    tests/check_st_compat.py under ST 5.1.2 + transformers 4.57.6 and ST 6.2 + transformers 5.24)."""
    import json

    tok = Tokenizer(FIXTURES / "modernbert_st")
    assert tok.config["tokenizer_class"] == "TokenizersBackend"
    tok.save(tmp_path)
    saved = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert saved["tokenizer_class"] == "PreTrainedTokenizerFast"
    Tokenizer(FIXTURES / "roberta_st").save(tmp_path / "roberta")
    roberta = json.loads((tmp_path / "roberta" / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert roberta["tokenizer_class"] == "RobertaTokenizer"  # named classes are kept


def test_transformers5_extra_special_tokens_are_read_and_saved_in_the_form_both_versions_read(tmp_path):
    """transformers 5 writes CamemBERT's extra special tokens as a list under ``extra_special_tokens``, which 4.x
    cannot read; embedkit counts them as special and saves them as ``additional_special_tokens`` (read by both)."""
    import json

    folder = FIXTURES / "camembert_st"
    extras = json.loads((folder / "tokenizer_config.json").read_text())["extra_special_tokens"]
    assert extras == ["<s>NOTUSED", "</s>NOTUSED", "<unk>NOTUSED"]
    tok = Tokenizer(folder)
    assert {tok.backend.token_to_id(t) for t in extras if tok.backend.token_to_id(t) is not None} <= set(
        tok.all_special_ids)
    tok.save(tmp_path)
    saved = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert saved["additional_special_tokens"] == extras and "extra_special_tokens" not in saved
    assert Tokenizer(tmp_path).all_special_ids == tok.all_special_ids


def test_padding_side_is_read_set_per_call_saved_and_pickled(tmp_path):
    import json
    import pickle

    from embedkit.default_model import default_model_path

    tok = Tokenizer(default_model_path())
    texts = ["a much longer text than the other", "short"]
    assert tok.padding_side == "right" and tok.batch_features(texts)["attention_mask"][1, -1] == 0
    left = tok.batch_features(texts, padding_side="left")
    assert left["attention_mask"][1, 0] == 0 and left["attention_mask"][:, -1].all()
    right_ids = tok.batch_features(texts)["input_ids"][1]
    real = int(tok.batch_features(texts)["attention_mask"][1].sum())
    assert torch.equal(left["input_ids"][1, -real:], right_ids[:real])  # the same ids, moved to the end
    tok.padding_side = "left"
    tok.save(tmp_path)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["padding_side"] == "left"
    assert Tokenizer(tmp_path).padding_side == "left"
    assert pickle.loads(pickle.dumps(tok)).padding_side == "left"
    with pytest.raises(ValueError, match="between 'right' and 'left'"):
        tok.batch_features(texts, padding_side="center")


CALL_GOLDEN = json.loads((FIXTURES / "tokenizer_call_golden.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(CALL_GOLDEN))
def test_calling_model_tokenizer_returns_what_transformers_returns(name, minilm_path):
    """``model.tokenizer(...)`` and its helpers as transformers 5.25's tokenizer (tests/generate_tokenizer_call_
    fixtures.py): one text gives one example's lists, lists give ragged lists unless padded, pairs, truncation,
    padding to max_length, tensors, decode keeping special tokens, batch_decode, unknown tokens, encode, tokenize."""
    from embedkit import SentenceTransformer
    from tests.generate_tokenizer_call_fixtures import run_calls

    folder = minilm_path if name == "minilm" else FIXTURES / name
    tok = SentenceTransformer(str(folder), device="cpu").tokenizer
    assert run_calls(tok) == CALL_GOLDEN[name]


def test_tokenizer_call_errors_name_the_problem():
    tok = Tokenizer(FIXTURES / "tiny_bert_v6")
    with pytest.raises(ValueError, match="Unable to create tensor"):
        tok(["a", "a much longer text"], return_tensors="pt")
    with pytest.raises(ValueError, match="text has 2 examples but text_pair has 1"):
        tok(["a", "b"], ["c"])
    with pytest.raises(ValueError, match="padding='sideways'"):
        tok("a", padding="sideways")
    encoded = tok(["a b", "c"], padding=True, return_tensors="pt")
    assert encoded.input_ids.shape == (2, 4) and encoded.to("cpu")["attention_mask"].tolist()[1] == [1, 1, 1, 0]
