"""Generate the decoder parity fixtures (Qwen3, Gemma 3, Gemma 2, Llama, Mistral, Qwen2) with sentence-transformers 6.x
(run by hand; tests never import ST).

    /root/venv6/bin/python tests/generate_decoder_fixtures.py [qwen3] [gemma3] [gemma2] [llama] [mistral] [qwen2]

Tiny random decoder checkpoints written by transformers (hidden 32, max_position_embeddings 128; fewer key/value heads
than query heads, and a head_dim of 16 so that the attention width differs from the hidden size) with a tiny
byte-level BPE ``tokenizer.json`` built with ``tokenizers``. Per family, three folders and one golden file:

- ``{family}_st/``        SentenceTransformer in the family's released layout:
  - qwen3: Qwen3-Embedding's: Transformer (Qwen3Model, 3 layers, 4 query heads on 2 key/value heads) + lasttoken
    Pooling + Normalize, with a query prompt; the tokenizer appends ``<|endoftext|>`` (also the padding token) and
    pads on the left (``padding_side: left`` in tokenizer_config.json);
  - gemma3: EmbeddingGemma's: Transformer (Gemma3TextModel, ``use_bidirectional_attention``, 4 layers: 0, 1 and 3
    sliding with window 8 (4 tokens on either side), 2 full; 2 query heads on 1; ``query_pre_attn_scalar`` 8) + mean
    Pooling + Dense 32->64 + Dense 64->32 (no biases, identity) + Normalize, with query and document prompts; the
    tokenizer adds ``<bos>`` and ``<eos>`` and pads with ``<pad>`` on the right;
  - gemma2: bge-multilingual-gemma2's: Transformer (Gemma2Model, 4 layers alternating sliding (window 4) and full,
    attention scores soft-capped at 2, ``query_pre_attn_scalar`` 8) + lasttoken Pooling + Normalize, query prompt;
    ``<bos>`` text ``<eos>``, left padding;
  - llama: e5-mistral's layout on a Llama 3 stack (``llama3`` rotary scaling with an original context of 16 tokens,
    so that the scaling matters): ``<s>`` text ``</s>``, right padding, lasttoken Pooling + Normalize, query prompt;
  - mistral: the same layout, every layer sliding with window 8, 1 key/value head, left padding;
  - qwen2: query / key / value biases, Qwen's tokenizer, right padding, mean Pooling + Normalize, query prompt;
- ``{family}_causal_lm/`` a plain transformers folder (no modules.json) of a causal ``*ForCausalLM`` with an untied
  ``lm_head``, which ST loads with last-token pooling (the ``ForCausalLM`` default): qwen3 and gemma3 with
  attention biases and sliding-window layers (window 4), llama with attention and feed-forward biases and linear
  rotary scaling, mistral without a window, qwen2 with sliding layers (window 4, from layer 1);
- ``{family}_ce/``        CrossEncoder on ``*ForSequenceClassification`` (qwen3, llama, qwen2 1 label; gemma3, mistral
  2 labels; ``score`` at the last token that is not padding);
- ``{family}_golden.npz`` ST 6's token ids, embeddings (batched, alone, with prompts), CrossEncoder scores and every
  layer's output.

Attention runs as ``eager`` in fp32 on CPU. Seeded. At the end it checks that folders saved by embedkit load in ST 6
with the same outputs (printing the max differences).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from generate_fixtures import PAIRS, TINY_TEXTS  # noqa: E402
from generator_tools import file_digests, save_npz  # noqa: E402

EAGER = {"attn_implementation": "eager"}
CE_PAIRS = PAIRS + [(a, b) for a, b in zip(TINY_TEXTS, TINY_TEXTS[1:])]
QWEN3_PROMPT = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"
GEMMA3_PROMPTS = {"query": "task: search result | query: ", "document": "title: none | text: "}
CORPUS = [
    "The quick brown fox jumps over the lazy dog.", "A man is eating food.", "Paris is the capital of France.",
    "In the beginning there was a very long sentence that goes on and on.", "Hello, World! 123 + 456 = 579?",
    "naïve café déjà vu Ünïcödé ΑΒΓ 東京 😀", "What is the capital of France?", "a long answer", "word word word",
    QWEN3_PROMPT, *GEMMA3_PROMPTS.values(),
]
SLIDING, FULL = "sliding_attention", "full_attention"
# What differs between the families: tokenizer, sizes, classes, the released ST layout and the overrides per folder.
FAMILIES: dict[str, dict[str, Any]] = {
    "qwen3": dict(
        special=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],  # ids 0..2
        template=("$A:0 <|endoftext|>:0", "$A:0 <|endoftext|>:0 $B:1 <|endoftext|>:1", [("<|endoftext|>", 0)]),
        tokens=dict(eos_token="<|im_end|>", pad_token="<|endoftext|>", padding_side="left"),
        settings=dict(num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                      rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0}, eos_token_id=0,
                      bos_token_id=None),
        classes=("Qwen3Config", "Qwen3Model", "Qwen3ForCausalLM", "Qwen3ForSequenceClassification"),
        st=dict(pooling="lasttoken", dense=False, prompts={"query": QWEN3_PROMPT, "document": ""}),
        lm=dict(attention_bias=True, use_sliding_window=True, sliding_window=4, max_window_layers=1),
        ce=dict(num_labels=1),
    ),
    "gemma3": dict(
        special=["<pad>", "<eos>", "<bos>", "<unk>"],  # ids 0..3
        template=("<bos>:0 $A:0 <eos>:0", "<bos>:0 $A:0 <eos>:0 $B:1 <eos>:1", [("<bos>", 2), ("<eos>", 1)]),
        tokens=dict(bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
                    padding_side="right"),
        settings=dict(num_hidden_layers=4, num_attention_heads=2, num_key_value_heads=1, query_pre_attn_scalar=8,
                      sliding_window=8, layer_types=[SLIDING, SLIDING, FULL, SLIDING],
                      rope_parameters={FULL: {"rope_type": "default", "rope_theta": 1_000_000.0},
                                       SLIDING: {"rope_type": "default", "rope_theta": 10_000.0}},
                      eos_token_id=1, bos_token_id=2),
        classes=("Gemma3TextConfig", "Gemma3TextModel", "Gemma3ForCausalLM", "Gemma3TextForSequenceClassification"),
        st=dict(pooling="mean", dense=True, prompts=GEMMA3_PROMPTS, model=dict(use_bidirectional_attention=True)),
        lm=dict(attention_bias=True, sliding_window=4),
        ce=dict(num_labels=2),
    ),
    "gemma2": dict(  # bge-multilingual-gemma2's layout: last-token pooling, causal; scores soft-capped at 2
        special=["<pad>", "<eos>", "<bos>", "<unk>"],  # ids 0..3
        template=("<bos>:0 $A:0 <eos>:0", "<bos>:0 $A:0 <eos>:0 $B:1 <eos>:1", [("<bos>", 2), ("<eos>", 1)]),
        tokens=dict(bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>", padding_side="left"),
        settings=dict(num_hidden_layers=4, num_attention_heads=2, num_key_value_heads=1, query_pre_attn_scalar=8,
                      sliding_window=4, attn_logit_softcapping=2.0, final_logit_softcapping=3.0,
                      rope_parameters={"rope_type": "default", "rope_theta": 10_000.0}, eos_token_id=1,
                      bos_token_id=2),
        classes=("Gemma2Config", "Gemma2Model", "Gemma2ForCausalLM", "Gemma2ForSequenceClassification"),
        st=dict(pooling="lasttoken", dense=False, prompts={"query": QWEN3_PROMPT, "document": ""}),
        lm=dict(attention_bias=True, sliding_window=3),
        ce=dict(num_labels=1),
    ),
    "llama": dict(  # e5-mistral's layout on a Llama 3 stack: <s> text </s>, last-token pooling
        special=["<pad>", "<s>", "</s>", "<unk>"],  # ids 0..3
        template=("<s>:0 $A:0 </s>:0", "<s>:0 $A:0 </s>:0 $B:1 </s>:1", [("<s>", 1), ("</s>", 2)]),
        tokens=dict(bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>", padding_side="right"),
        settings=dict(num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, eos_token_id=2,
                      bos_token_id=1, rope_parameters={"rope_type": "llama3", "rope_theta": 10_000.0, "factor": 8.0,
                                                       "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                       "original_max_position_embeddings": 16}),
        classes=("LlamaConfig", "LlamaModel", "LlamaForCausalLM", "LlamaForSequenceClassification"),
        st=dict(pooling="lasttoken", dense=False, prompts={"query": QWEN3_PROMPT, "document": ""}),
        lm=dict(attention_bias=True, mlp_bias=True,
                rope_parameters={"rope_type": "linear", "rope_theta": 10_000.0, "factor": 2.0}),
        ce=dict(num_labels=1),
    ),
    "mistral": dict(  # every layer slides; left padding
        special=["<pad>", "<s>", "</s>", "<unk>"],
        template=("<s>:0 $A:0 </s>:0", "<s>:0 $A:0 </s>:0 $B:1 </s>:1", [("<s>", 1), ("</s>", 2)]),
        tokens=dict(bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>", padding_side="left"),
        settings=dict(num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=1, eos_token_id=2,
                      bos_token_id=1, sliding_window=8,
                      rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0}),
        classes=("MistralConfig", "MistralModel", "MistralForCausalLM", "MistralForSequenceClassification"),
        st=dict(pooling="lasttoken", dense=False, prompts={"query": QWEN3_PROMPT, "document": ""}),
        lm=dict(sliding_window=None),
        ce=dict(num_labels=2),
    ),
    "qwen2": dict(  # q/k/v biases; mean pooling as KaLM's
        special=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        template=("$A:0 <|endoftext|>:0", "$A:0 <|endoftext|>:0 $B:1 <|endoftext|>:1", [("<|endoftext|>", 0)]),
        tokens=dict(eos_token="<|im_end|>", pad_token="<|endoftext|>", padding_side="right"),
        settings=dict(num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, eos_token_id=0,
                      bos_token_id=None, rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0}),
        classes=("Qwen2Config", "Qwen2Model", "Qwen2ForCausalLM", "Qwen2ForSequenceClassification"),
        st=dict(pooling="mean", dense=False, prompts={"query": QWEN3_PROMPT, "document": ""}),
        lm=dict(use_sliding_window=True, sliding_window=4, max_window_layers=1),
        ce=dict(num_labels=1),
        # transformers 5 tokenizes a qwen2 folder with Qwen2Tokenizer's own pipeline (NFC, Qwen's split pattern)
        # whatever tokenizer.json says: the folders get the tokenizer.json it writes, as real Qwen2 folders have
        canonical_tokenizer=True,
    ),
}


def make_tokenizer(family: dict[str, Any], out: Path):
    """A byte-level BPE tokenizer.json trained on CORPUS with the family's special tokens, template and padding."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    unk = family["tokens"].get("unk_token")
    tok = Tokenizer(models.BPE(unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=family["special"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 3, trainer=trainer)
    single, pair, special_tokens = family["template"]
    tok.post_processor = processors.TemplateProcessing(single=single, pair=pair, special_tokens=special_tokens)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=128, **family["tokens"],
                                   model_input_names=["input_ids", "attention_mask"])
    fast.save_pretrained(out)
    return fast


def make_hf(family: dict[str, Any], kind: str, out: Path, seed: int, **overrides) -> Path:
    """A tiny random ``kind`` (model / causal_lm / cls) checkpoint with the tokenizer, saved by transformers."""
    import transformers

    config_class, *model_classes = (getattr(transformers, name) for name in family["classes"])
    out.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(family, out)
    settings = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=48, head_dim=16,
                    max_position_embeddings=128, pad_token_id=0, tie_word_embeddings=False, **family["settings"])
    cfg = config_class(**{**settings, **overrides})
    torch.manual_seed(seed)
    model = dict(zip(("model", "causal_lm", "cls"), model_classes))[kind](cfg)
    with torch.no_grad():  # larger random weights than the default init, so differences are not hidden
        for name, p in model.named_parameters():  # Qwen3's and Llama's norms scale by weight, Gemma's by 1 + weight
            scales_by_weight = name.endswith("norm.weight") and family["classes"][0] not in ("Gemma3TextConfig",
                                                                                            "Gemma2Config")
            p.normal_(1.0 if scales_by_weight else 0.0, 0.2)
    model.save_pretrained(out)
    if family.get("canonical_tokenizer"):
        transformers.AutoTokenizer.from_pretrained(out).save_pretrained(out)
    return out


def check_embedkit_saves_load_in_st(name: str, golden: dict[str, np.ndarray]) -> None:
    """Folders embedkit saves load in ST 6 and give ST's outputs."""
    from sentence_transformers import CrossEncoder, SentenceTransformer

    import embedkit

    def report(what: str, diff: float) -> None:
        print(f"{what}: max |diff| = {diff:.2e}")

    with tempfile.TemporaryDirectory() as tmp:
        for kind, key in (("st", "emb"), ("causal_lm", "lm_emb")):
            ek = embedkit.SentenceTransformer(str(FIX / f"{name}_{kind}"), device="cpu")
            report(f"embedkit {name}_{kind} vs ST", np.abs(ek.encode(TINY_TEXTS) - golden[key]).max())
            ek.save(f"{tmp}/{kind}")
            st = SentenceTransformer(f"{tmp}/{kind}", device="cpu", model_kwargs=EAGER)
            report(f"embedkit-saved {name}_{kind} in ST", np.abs(st.encode(TINY_TEXTS) - golden[key]).max())
        ek_ce = embedkit.CrossEncoder(str(FIX / f"{name}_ce"), device="cpu")
        report(f"embedkit {name}_ce vs ST", np.abs(ek_ce.predict(CE_PAIRS) - golden["ce_scores"]).max())
        ek_ce.save(f"{tmp}/ce")
        ce = CrossEncoder(f"{tmp}/ce", device="cpu", model_kwargs=EAGER)
        report(f"embedkit-saved {name}_ce in ST", np.abs(ce.predict(CE_PAIRS) - golden["ce_scores"]).max())


def generate(name: str, work: Path) -> None:
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    family = FAMILIES[name]
    for kind in ("st", "causal_lm", "ce"):
        shutil.rmtree(FIX / f"{name}_{kind}", ignore_errors=True)
    golden: dict[str, np.ndarray] = {}

    # SentenceTransformer in the family's released layout
    spec = family["st"]
    hf = make_hf(family, "model", work / f"{name}_st", seed=0, **spec.get("model", {}))
    modules = [Transformer(str(hf), model_kwargs=EAGER), Pooling(32, spec["pooling"])]
    if spec["dense"]:
        torch.manual_seed(10)
        modules += [Dense(32, 64, bias=False, activation_function=torch.nn.Identity()),
                    Dense(64, 32, bias=False, activation_function=torch.nn.Identity())]
    st = SentenceTransformer(modules=[*modules, Normalize()], device="cpu", prompts=spec["prompts"])
    st.save(str(FIX / f"{name}_st"))
    st = SentenceTransformer(str(FIX / f"{name}_st"), device="cpu", model_kwargs=EAGER)
    feats = st.preprocess(TINY_TEXTS)
    assert "token_type_ids" not in feats
    golden["input_ids"] = feats["input_ids"].numpy()
    golden["attention_mask"] = feats["attention_mask"].numpy()
    golden["pair_input_ids"] = st.preprocess(PAIRS)["input_ids"].numpy()
    golden["emb"] = st.encode(TINY_TEXTS, batch_size=3)
    golden["emb_alone"] = np.stack([st.encode([t])[0] for t in TINY_TEXTS])
    golden["emb_query"] = st.encode_query(TINY_TEXTS, batch_size=4)
    golden["emb_document"] = st.encode_document(TINY_TEXTS, batch_size=4)
    for i, t in enumerate(st.encode(TINY_TEXTS[:5], output_value="token_embeddings")):
        golden[f"token_embeddings_{i}"] = t.numpy()
    with torch.no_grad():  # every layer's output (the last after the final norm), for output_hidden_states
        hidden = st[0].auto_model(feats["input_ids"][:4], feats["attention_mask"][:4], output_hidden_states=True)
    golden["hidden_states"] = torch.stack(hidden.hidden_states).numpy()  # (L + 1, 4, T, D)
    golden["hidden_input_ids"] = feats["input_ids"][:4].numpy()
    golden["hidden_attention_mask"] = feats["attention_mask"][:4].numpy()
    print(f"{name}_st: padding {st.tokenizer.padding_side}, tokens {golden['attention_mask'].sum(1).tolist()}")

    # A plain causal-LM folder: ST picks lasttoken pooling by itself
    hf = make_hf(family, "causal_lm", FIX / f"{name}_causal_lm", seed=1, **family["lm"])
    lm = SentenceTransformer(str(hf), device="cpu", model_kwargs=EAGER)
    assert lm[1].get_config_dict()["pooling_mode"] == "lasttoken", lm[1].get_config_dict()
    print(f"{name}_causal_lm: layer types {getattr(lm[0].auto_model.config, 'layer_types', None)}")
    golden["lm_emb"] = lm.encode(TINY_TEXTS, batch_size=4)

    # CrossEncoder
    hf = make_hf(family, "cls", work / f"{name}_ce", seed=2, **family["ce"])
    CrossEncoder(str(hf), device="cpu", model_kwargs=EAGER).save(str(FIX / f"{name}_ce"))
    ce = CrossEncoder(str(FIX / f"{name}_ce"), device="cpu", model_kwargs=EAGER)
    golden["ce_scores"] = ce.predict(CE_PAIRS, batch_size=4)
    golden["ce_input_ids"] = ce.preprocess(CE_PAIRS)["input_ids"].numpy()

    for kind in ("st", "causal_lm", "ce"):
        (FIX / f"{name}_{kind}" / "README.md").unlink(missing_ok=True)
    save_npz(FIX / f"{name}_golden.npz", golden)
    folders = [f"{name}_{kind}" for kind in ("st", "causal_lm", "ce")]
    print(json.dumps(file_digests(folders, f"{name}_golden.npz"), indent=1))
    check_embedkit_saves_load_in_st(name, golden)


def main() -> None:
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp())
    for name in sys.argv[1:] or list(FAMILIES):
        generate(name, work)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
