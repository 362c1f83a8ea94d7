"""Weight-name tables between Hugging Face Qwen3 checkpoints and embedkit's :mod:`.qwen3`, one literal dict each way
(registered in :mod:`.convert`).

HF names are given after the ``model.`` prefix that ``Qwen3For*`` checkpoints add (a bare ``Qwen3Model``, as
Qwen3-Embedding ships, has none); per-layer entries hold the layer index as ``{}``. The projection biases appear
only when the config has ``attention_bias``.

Heads: ``lm_head.weight`` (``Qwen3ForCausalLM``, absent when tied to the word embeddings) is recognised and left
aside: an embedding model does not use it. ``score.weight`` is ``Qwen3ForSequenceClassification``'s head.
"""

from __future__ import annotations

QWEN3_FROM_HF = {
    "embed_tokens.weight": "embed.weight",
    "layers.{}.input_layernorm.weight": "layers.{}.attn_norm.weight",
    "layers.{}.self_attn.q_proj.weight": "layers.{}.attn.q.weight",
    "layers.{}.self_attn.q_proj.bias": "layers.{}.attn.q.bias",
    "layers.{}.self_attn.k_proj.weight": "layers.{}.attn.k.weight",
    "layers.{}.self_attn.k_proj.bias": "layers.{}.attn.k.bias",
    "layers.{}.self_attn.v_proj.weight": "layers.{}.attn.v.weight",
    "layers.{}.self_attn.v_proj.bias": "layers.{}.attn.v.bias",
    "layers.{}.self_attn.o_proj.weight": "layers.{}.attn.o.weight",
    "layers.{}.self_attn.o_proj.bias": "layers.{}.attn.o.bias",
    "layers.{}.self_attn.q_norm.weight": "layers.{}.attn.q_norm.weight",
    "layers.{}.self_attn.k_norm.weight": "layers.{}.attn.k_norm.weight",
    "layers.{}.post_attention_layernorm.weight": "layers.{}.mlp_norm.weight",
    "layers.{}.mlp.gate_proj.weight": "layers.{}.mlp.gate.weight",
    "layers.{}.mlp.up_proj.weight": "layers.{}.mlp.up.weight",
    "layers.{}.mlp.down_proj.weight": "layers.{}.mlp.down.weight",
    "norm.weight": "final_norm.weight",
}

QWEN3_TO_HF = {
    "embed.weight": "embed_tokens.weight",
    "layers.{}.attn_norm.weight": "layers.{}.input_layernorm.weight",
    "layers.{}.attn.q.weight": "layers.{}.self_attn.q_proj.weight",
    "layers.{}.attn.q.bias": "layers.{}.self_attn.q_proj.bias",
    "layers.{}.attn.k.weight": "layers.{}.self_attn.k_proj.weight",
    "layers.{}.attn.k.bias": "layers.{}.self_attn.k_proj.bias",
    "layers.{}.attn.v.weight": "layers.{}.self_attn.v_proj.weight",
    "layers.{}.attn.v.bias": "layers.{}.self_attn.v_proj.bias",
    "layers.{}.attn.o.weight": "layers.{}.self_attn.o_proj.weight",
    "layers.{}.attn.o.bias": "layers.{}.self_attn.o_proj.bias",
    "layers.{}.attn.q_norm.weight": "layers.{}.self_attn.q_norm.weight",
    "layers.{}.attn.k_norm.weight": "layers.{}.self_attn.k_norm.weight",
    "layers.{}.mlp_norm.weight": "layers.{}.post_attention_layernorm.weight",
    "layers.{}.mlp.gate.weight": "layers.{}.mlp.gate_proj.weight",
    "layers.{}.mlp.up.weight": "layers.{}.mlp.up_proj.weight",
    "layers.{}.mlp.down.weight": "layers.{}.mlp.down_proj.weight",
    "final_norm.weight": "norm.weight",
}

# Head weights, HF name -> embedkit name (as convert.split_hf_state_dict returns them).
QWEN3_HEADS_FROM_HF = {
    "lm_head.weight": "lm_head.weight",  # the causal LM's next-token head: not used for embeddings
    "score.weight": "classifier.out.weight",
}

# Classification head, embedkit name inside the head -> HF name.
QWEN3_CLASSIFIER_TO_HF = {
    "out.weight": "score.weight",
}
