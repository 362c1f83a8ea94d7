"""Generate the EuroBERT parity fixtures with sentence-transformers 6.x and transformers 5's native ``eurobert`` (run by
hand; tests never import ST).

    /root/venv6/bin/python tests/generate_eurobert_fixtures.py

Tiny random EuroBERT checkpoints written by transformers (Llama's layers, bidirectional: hidden 32, 3 layers, 4 query
heads on 2 key/value heads of ``head_dim`` 16, SwiGLU 48, rotary base 250000, max_position_embeddings 128) with a
tiny byte-level BPE ``tokenizer.json`` (``<|begin_of_text|>`` text ``<|end_of_text|>``, padded on the right with
``<|end_of_text|>``, as EuroBERT's). Written under tests/fixtures/:
- ``eurobert_st/``       SentenceTransformer: Transformer (EuroBertModel) + mean Pooling + Normalize;
- ``eurobert_mlm/``      a plain ``EuroBertForMaskedLM`` folder (attention and feed-forward biases), which ST loads with
  mean pooling, the ``lm_head`` left aside;
- ``eurobert_ce_late/``, ``eurobert_ce_bos/``, ``eurobert_ce_mean/``  CrossEncoders on
  ``EuroBertForSequenceClassification`` with each ``classifier_pooling`` (1, 2 and 1 labels);
- ``eurobert_golden.npz`` ST 6's token ids, embeddings (batched, alone), every layer's output and CrossEncoder scores.

Attention runs as ``eager`` in fp32 on CPU. Seeded; a re-run writes the same bytes. At the end it checks that
folders saved by embedkit load in ST 6 with the same outputs (printing the max differences).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from generate_ce_fixtures import CE_PAIRS  # noqa: E402
from generate_decoder_fixtures import make_tokenizer  # noqa: E402
from generate_fixtures import TINY_TEXTS  # noqa: E402
from generator_tools import (  # noqa: E402
    bi_encoder_goldens,
    check_saved_bi_encoders_in_st,
    check_saved_cross_encoders_in_st,
    file_digests,
    save_npz,
)

EAGER = {"attn_implementation": "eager"}
CE_FOLDERS = {"eurobert_ce_late": ("late", 1), "eurobert_ce_bos": ("bos", 2), "eurobert_ce_mean": ("mean", 1)}
FOLDERS = ("eurobert_st", "eurobert_mlm", *CE_FOLDERS)
FAMILY = dict(
    special=["<|begin_of_text|>", "<|end_of_text|>", "<|mask|>"],  # ids 0..2
    template=("<|begin_of_text|>:0 $A:0 <|end_of_text|>:0",
              "<|begin_of_text|>:0 $A:0 <|end_of_text|>:0 $B:1 <|end_of_text|>:1",
              [("<|begin_of_text|>", 0), ("<|end_of_text|>", 1)]),
    tokens=dict(bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>", pad_token="<|end_of_text|>",
                mask_token="<|mask|>", padding_side="right"),
)


def make_hf(class_name: str, out: Path, seed: int, **overrides) -> Path:
    import transformers

    out.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(FAMILY, out)
    cfg = transformers.EuroBertConfig(**{**dict(
        vocab_size=len(tok), hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=128, bos_token_id=0, eos_token_id=1,
        pad_token_id=1, mask_token_id=2, rope_parameters={"rope_type": "default", "rope_theta": 250000.0}),
        **overrides})
    torch.manual_seed(seed)
    model = getattr(transformers, class_name)(cfg)
    with torch.no_grad():  # larger random weights than the default init, so differences are not hidden
        for name, p in model.named_parameters():
            p.normal_(1.0 if name.endswith("norm.weight") else 0.0, 0.2)
    model.save_pretrained(out)
    return out


def main() -> None:
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp())
    for name in FOLDERS:
        shutil.rmtree(FIX / name, ignore_errors=True)
    golden: dict[str, np.ndarray] = {}

    hf = make_hf("EuroBertModel", work / "eurobert_st", seed=0)
    modules = [Transformer(str(hf), model_kwargs=EAGER), Pooling(32, "mean"), Normalize()]
    SentenceTransformer(modules=modules, device="cpu").save(str(FIX / "eurobert_st"))
    st = SentenceTransformer(str(FIX / "eurobert_st"), device="cpu", model_kwargs=EAGER)
    feats = st.preprocess(TINY_TEXTS)
    golden.update(bi_encoder_goldens(st, TINY_TEXTS))  # hidden_states (the last after the final norm): (L + 1, 4, T, D)
    print(f"eurobert_st: padding {st.tokenizer.padding_side}, tokens {golden['attention_mask'].sum(1).tolist()}, "
          f"features {sorted(feats)}")

    make_hf("EuroBertForMaskedLM", FIX / "eurobert_mlm", seed=1, attention_bias=True, mlp_bias=True)
    mlm = SentenceTransformer(str(FIX / "eurobert_mlm"), device="cpu", model_kwargs=EAGER)
    assert mlm[1].get_config_dict()["pooling_mode"] == "mean"
    golden["mlm_emb"] = mlm.encode(TINY_TEXTS, batch_size=4)

    for seed, (name, (pooling, labels)) in enumerate(CE_FOLDERS.items(), start=2):
        hf = make_hf("EuroBertForSequenceClassification", work / name, seed=seed, num_labels=labels,
                     classifier_pooling=pooling)
        CrossEncoder(str(hf), device="cpu", model_kwargs=EAGER).save(str(FIX / name))
        ce = CrossEncoder(str(FIX / name), device="cpu", model_kwargs=EAGER)
        key = name.removeprefix("eurobert_")
        golden[f"{key}_scores"] = ce.predict(CE_PAIRS, batch_size=4)
        golden[f"{key}_input_ids"] = ce.preprocess(CE_PAIRS)["input_ids"].numpy()

    for name in FOLDERS:
        (FIX / name / "README.md").unlink(missing_ok=True)
    save_npz(FIX / "eurobert_golden.npz", golden)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(file_digests(FOLDERS, "eurobert_golden.npz"), indent=1))
    check_saved_bi_encoders_in_st({"eurobert_st": golden["emb"], "eurobert_mlm": golden["mlm_emb"]}, TINY_TEXTS)
    check_saved_cross_encoders_in_st({name: golden[f"{name.removeprefix('eurobert_')}_scores"] for name in CE_FOLDERS},
                                     CE_PAIRS)


if __name__ == "__main__":
    main()
