"""The legacy word-level modules, the flattened Pooling path and the modality helpers."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from embedkit import SentenceTransformer
from embedkit.base.modality import check_text_modality, infer_batch_modality
from embedkit.module_types import MODULE_TYPES, SAVED_TYPE
from embedkit.sentence_transformer.modules import (
    CNN,
    LSTM,
    BoW,
    CLIPModel,
    Dropout,
    LayerNorm,
    Pooling,
    WeightedLayerPooling,
    WordEmbeddings,
    WordWeights,
)
from embedkit.sentence_transformer.modules.pooling import _convert_legacy_pooling_kwargs
from embedkit.sentence_transformer.modules.tokenizer import WhitespaceTokenizer

VOCAB = ["PADDING", "red", "green", "blue", "apple"]


def _word_model(extra: list) -> SentenceTransformer:
    torch.manual_seed(0)
    emb = WordEmbeddings(WhitespaceTokenizer(VOCAB, stop_words=[]), np.random.rand(len(VOCAB), 6).astype(np.float32))
    dims = [m.get_embedding_dimension() for m in extra if "get_embedding_dimension" in type(m).__dict__]
    return SentenceTransformer(modules=[emb, *extra, Pooling(dims[-1] if dims else 6, "mean")], device="cpu")


@pytest.mark.parametrize("extra", [
    list,
    lambda: [CNN(6, out_channels=4, kernel_sizes=[1, 3])],
    lambda: [LSTM(6, hidden_dim=3)],
    lambda: [WordWeights(VOCAB, {"red": 2.0, "apple": 0.5})],
])
def test_word_pipeline_round_trip(tmp_path, extra):
    modules = extra()
    model = _word_model(modules)
    texts = ["red apple", "green blue apple", "unknown"]
    before = model.encode(texts)
    model.save(str(tmp_path / "m"))
    again = SentenceTransformer(str(tmp_path / "m"), device="cpu")
    np.testing.assert_allclose(again.encode(texts), before, atol=1e-6)
    types = [entry["type"] for entry in json.loads((tmp_path / "m" / "modules.json").read_text())]
    assert types[0] == "sentence_transformers.models.WordEmbeddings"


def test_word_embeddings_config_names_classic_tokenizer(tmp_path):
    emb = WordEmbeddings(WhitespaceTokenizer(VOCAB), np.zeros((len(VOCAB), 2), dtype=np.float32))
    emb.save(str(tmp_path))
    config = json.loads((tmp_path / "wordembedding_config.json").read_text())
    assert config["tokenizer_class"] == "sentence_transformers.models.tokenizer.WhitespaceTokenizer.WhitespaceTokenizer"
    assert (tmp_path / "whitespacetokenizer_config.json").is_file()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        loaded = WordEmbeddings.load(str(tmp_path))
    assert loaded.tokenizer.get_vocab() == VOCAB


def test_small_modules_save_load(tmp_path):
    for i, module in enumerate([LayerNorm(3), Dropout(0.3), WeightedLayerPooling(3, num_hidden_layers=2,
                                                                                    layer_start=1)]):
        folder = tmp_path / str(i)
        folder.mkdir()
        module.save(str(folder))
        loaded = type(module).load(str(folder))
        assert loaded.get_config_dict() == module.get_config_dict()
        for key, value in module.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value)


def test_cnn_and_lstm_write_classic_keys_and_read_new_ones(tmp_path):
    CNN(5, out_channels=2).save(str(tmp_path))
    assert "in_word_embedding_dimension" in json.loads((tmp_path / "cnn_config.json").read_text())
    (tmp_path / "lstm_config.json").write_text(json.dumps({"embedding_dimension": 4, "hidden_dim": 2}))
    lstm = LSTM(4, hidden_dim=2)
    lstm.save_torch_weights(str(tmp_path))
    assert LSTM.load(str(tmp_path)).get_embedding_dimension() == 4


def test_bow_and_clip():
    bow = BoW(["a", "b", "a"], word_weights={"a": 3.0}, cumulative_term_frequency=False)
    assert bow(bow.preprocess(["a a b"]))["sentence_embedding"].tolist() == [[3.0, 1.0]]
    with pytest.raises(NotImplementedError, match="not supported by embedkit"):
        CLIPModel()


def test_legacy_types_registered():
    for cls in (CNN, LSTM, BoW, WordEmbeddings, WordWeights, WeightedLayerPooling, LayerNorm, Dropout):
        name = cls.__name__
        assert MODULE_TYPES[f"sentence_transformers.models.{name}"] is cls
        assert SAVED_TYPE[cls] == f"sentence_transformers.models.{name}"
    assert MODULE_TYPES["sentence_transformers.sentence_transformer.modules.word_embeddings.WordEmbeddings"] is \
        WordEmbeddings


def test_pooling_flattened_matches_padded():
    torch.manual_seed(0)
    tokens = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    flat = torch.cat([tokens[0, :3], tokens[1]]).unsqueeze(0)
    cu = torch.tensor([0, 3, 7])
    for mode in Pooling.POOLING_MODES:
        for prompt in (0, 1):
            pool = Pooling(3, mode, include_prompt=prompt == 0)
            padded = pool({"token_embeddings": tokens, "attention_mask": mask, "prompt_length": prompt})
            packed = pool({"token_embeddings": flat, "cu_seq_lens_q": cu, "prompt_length": prompt})
            if mode == "cls" and prompt:
                continue  # padded cls takes the first pooled token too; both checked without a prompt
            torch.testing.assert_close(packed["sentence_embedding"], padded["sentence_embedding"])


def test_pooling_rejects_mismatched_mask_and_converts_legacy_keys():
    with pytest.raises(ValueError, match="attention_mask has shape"):
        Pooling(2)({"token_embeddings": torch.ones(1, 3, 2), "attention_mask": torch.ones(1, 2)})
    config = {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True}
    _convert_legacy_pooling_kwargs(config)
    assert config == {"pooling_mode": ("max", "mean")}
    with pytest.warns(FutureWarning):
        assert Pooling(4, pooling_mode_cls_token=True).pooling_mode == "cls"


def test_modality_helpers():
    assert infer_batch_modality(["a", ("b", "c")]) == "text"
    assert infer_batch_modality([np.zeros((4, 4, 3))]) == "image"
    with pytest.raises(ValueError, match="Modality 'image' is not supported by this Transformer module"):
        check_text_modality([np.zeros((4, 4, 3))], "Transformer module")
