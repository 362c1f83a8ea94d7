"""``model[0].auto_model.save_pretrained(path)``: a transformers-style folder of the encoder alone, for every family.
(``tests/check_st_compat.py`` loads these folders in transformers' ``AutoModel`` as well.)"""

from __future__ import annotations

import pytest
import torch

from embedkit import SentenceTransformer
from embedkit.base.modules.transformer import Transformer
from tests.conftest import FIXTURES
from tests.encoders.family_checks import FAMILY_FOLDERS

TEXTS = ["a short text", "another, somewhat longer text about the weather in Paris"]


@pytest.mark.parametrize("name", FAMILY_FOLDERS)
def test_every_family_saves_its_encoder_as_transformers_does(tmp_path, name):
    model = SentenceTransformer(str(FIXTURES / name), device="cpu")
    encoder = model[0].auto_model
    encoder.save_pretrained(tmp_path / "hf")
    assert sorted(p.name for p in (tmp_path / "hf").iterdir()) == ["config.json", "model.safetensors"]
    reloaded = Transformer(str(tmp_path / "hf"), tokenizer_name_or_path=str(FIXTURES / name))
    features = model[0].preprocess(TEXTS)
    with torch.no_grad():
        expected = model[0](dict(features))["token_embeddings"]
        got = reloaded(dict(features))["token_embeddings"]
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_num_parameters_and_adapters_and_arguments(tmp_path):
    model = SentenceTransformer(str(FIXTURES / "tiny_bert_v6"), device="cpu")
    encoder = model[0].auto_model
    total = sum(p.numel() for p in encoder.parameters())
    embeddings = sum(m.weight.numel() for m in encoder.modules() if isinstance(m, torch.nn.Embedding))
    assert encoder.num_parameters() == total
    assert encoder.num_parameters(exclude_embeddings=True) == total - embeddings
    encoder.embed.requires_grad_(False)
    assert encoder.num_parameters(only_trainable=True) == total - sum(p.numel() for p in encoder.embed.parameters())
    with pytest.raises(TypeError, match="unsupported arguments \\['max_shard_size'\\]"):
        encoder.save_pretrained(tmp_path / "x", max_shard_size="1GB")
    encoder.save_pretrained(tmp_path / "bin", safe_serialization=False)
    assert (tmp_path / "bin" / "pytorch_model.bin").is_file()
    model.add_adapter({"r": 2, "lora_alpha": 4, "target_modules": ["query", "value"]})
    encoder.save_pretrained(tmp_path / "adapter")  # with an adapter: the adapter, as transformers + peft save it
    assert sorted(p.name for p in (tmp_path / "adapter").iterdir()) == ["adapter_config.json",
                                                                         "adapter_model.safetensors"]
