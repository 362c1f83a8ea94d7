"""Weight-name tables between Hugging Face ModernBERT checkpoints and embedkit's :mod:`.modernbert`, one literal dict
each way (registered in :mod:`.convert`).

HF names are given after the ``model.`` prefix that ``ModernBertFor*`` checkpoints add; per-layer entries hold the
layer index as ``{}``. Biases appear only where the config asks for them (``attention_bias``, ``mlp_bias``,
``norm_bias``): a checkpoint without them maps to an encoder built without them. Layer 0 has no ``attn_norm``.

Heads: ``head.*`` is ModernBERT's prediction head (dense -> activation -> LayerNorm), which both
``ModernBertForSequenceClassification`` and ``ModernBertForMaskedLM`` carry; it keeps the neutral name ``head.*``
here and the CrossEncoder / SparseEncoder head takes it as its own.
"""

from __future__ import annotations

MODERNBERT_FROM_HF = {
    "embeddings.tok_embeddings.weight": "embed.tok.weight",
    "embeddings.norm.weight": "embed.norm.weight",
    "embeddings.norm.bias": "embed.norm.bias",
    "layers.{}.attn_norm.weight": "layers.{}.attn_norm.weight",
    "layers.{}.attn_norm.bias": "layers.{}.attn_norm.bias",
    "layers.{}.attn.Wqkv.weight": "layers.{}.attn.Wqkv.weight",
    "layers.{}.attn.Wqkv.bias": "layers.{}.attn.Wqkv.bias",
    "layers.{}.attn.Wo.weight": "layers.{}.attn.Wo.weight",
    "layers.{}.attn.Wo.bias": "layers.{}.attn.Wo.bias",
    "layers.{}.mlp_norm.weight": "layers.{}.mlp_norm.weight",
    "layers.{}.mlp_norm.bias": "layers.{}.mlp_norm.bias",
    "layers.{}.mlp.Wi.weight": "layers.{}.mlp.Wi.weight",
    "layers.{}.mlp.Wi.bias": "layers.{}.mlp.Wi.bias",
    "layers.{}.mlp.Wo.weight": "layers.{}.mlp.Wo.weight",
    "layers.{}.mlp.Wo.bias": "layers.{}.mlp.Wo.bias",
    "final_norm.weight": "final_norm.weight",
    "final_norm.bias": "final_norm.bias",
}

MODERNBERT_TO_HF = {
    "embed.tok.weight": "embeddings.tok_embeddings.weight",
    "embed.norm.weight": "embeddings.norm.weight",
    "embed.norm.bias": "embeddings.norm.bias",
    "layers.{}.attn_norm.weight": "layers.{}.attn_norm.weight",
    "layers.{}.attn_norm.bias": "layers.{}.attn_norm.bias",
    "layers.{}.attn.Wqkv.weight": "layers.{}.attn.Wqkv.weight",
    "layers.{}.attn.Wqkv.bias": "layers.{}.attn.Wqkv.bias",
    "layers.{}.attn.Wo.weight": "layers.{}.attn.Wo.weight",
    "layers.{}.attn.Wo.bias": "layers.{}.attn.Wo.bias",
    "layers.{}.mlp_norm.weight": "layers.{}.mlp_norm.weight",
    "layers.{}.mlp_norm.bias": "layers.{}.mlp_norm.bias",
    "layers.{}.mlp.Wi.weight": "layers.{}.mlp.Wi.weight",
    "layers.{}.mlp.Wi.bias": "layers.{}.mlp.Wi.bias",
    "layers.{}.mlp.Wo.weight": "layers.{}.mlp.Wo.weight",
    "layers.{}.mlp.Wo.bias": "layers.{}.mlp.Wo.bias",
    "final_norm.weight": "final_norm.weight",
    "final_norm.bias": "final_norm.bias",
}

# Head weights, HF name -> embedkit name (as convert.split_hf_state_dict returns them).
MODERNBERT_HEADS_FROM_HF = {
    "head.dense.weight": "head.dense.weight",  # the shared prediction head: taken by the classifier or the MLM head
    "head.dense.bias": "head.dense.bias",
    "head.norm.weight": "head.norm.weight",
    "head.norm.bias": "head.norm.bias",
    "decoder.weight": "mlm.decoder.weight",  # tied to the word embeddings
    "decoder.bias": "mlm.bias",
    "classifier.weight": "classifier.out.weight",
    "classifier.bias": "classifier.out.bias",
}

# Classification head, embedkit name inside the head -> HF name.
MODERNBERT_CLASSIFIER_TO_HF = {
    "dense.weight": "head.dense.weight",
    "dense.bias": "head.dense.bias",
    "norm.weight": "head.norm.weight",
    "norm.bias": "head.norm.bias",
    "out.weight": "classifier.weight",
    "out.bias": "classifier.bias",
}

# MLM head, embedkit name inside MLMHead -> HF name.
MODERNBERT_MLM_TO_HF = {
    "dense.weight": "head.dense.weight",
    "dense.bias": "head.dense.bias",
    "norm.weight": "head.norm.weight",
    "norm.bias": "head.norm.bias",
    "bias": "decoder.bias",
    "decoder.weight": "decoder.weight",  # only when not tied to the word embeddings
}


def shared_head_to(owner: str, head_state: dict) -> dict:
    """``head_state`` with ModernBERT's shared ``head.*`` weights renamed ``{owner}.*`` (``classifier`` or ``mlm``).

    Example:
        >>> shared_head_to("mlm", {"head.dense.weight": 1, "mlm.bias": 2})
        {'mlm.dense.weight': 1, 'mlm.bias': 2}
    """
    return {(owner + key[len("head"):] if key.startswith("head.") else key): value for key, value in head_state.items()}
