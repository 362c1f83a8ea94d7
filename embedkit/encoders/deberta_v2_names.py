"""Weight-name tables between Hugging Face DeBERTa-v2 / v3 checkpoints (and DeBERTa v1's, ``DEBERTA_V1_*``) and
embedkit's :mod:`.deberta_v2`, one literal dict each way (registered in :mod:`.convert`).

HF names are given after the ``deberta.`` prefix that ``DebertaV2For*`` checkpoints add; per-layer entries hold the
layer index as ``{}``. ``pos_key_proj`` / ``pos_query_proj`` appear only without ``share_att_key``, absolute
positions only with ``position_biased_input``, token types only when ``type_vocab_size > 0``.

Heads (v1's ``Deberta*`` classes use the same names): ``DebertaV2ForSequenceClassification``'s ContextPooler
(``pooler.dense``) and ``classifier``; the pre-training heads of DeBERTa-v3 checkpoints (``lm_predictions.*``,
``mask_predictions.*``) and transformers' legacy MLM head (``cls.predictions.*``) are recognised and left aside.
"""

from __future__ import annotations

DEBERTA_V2_FROM_HF = {
    "embeddings.word_embeddings.weight": "embed.tok.weight",
    "embeddings.position_embeddings.weight": "embed.pos.weight",
    "embeddings.token_type_embeddings.weight": "embed.seg.weight",
    "embeddings.embed_proj.weight": "embed.project.weight",
    "embeddings.LayerNorm.weight": "embed.norm.weight",
    "embeddings.LayerNorm.bias": "embed.norm.bias",
    "encoder.layer.{}.attention.self.query_proj.weight": "layers.{}.attn.q.weight",
    "encoder.layer.{}.attention.self.query_proj.bias": "layers.{}.attn.q.bias",
    "encoder.layer.{}.attention.self.key_proj.weight": "layers.{}.attn.k.weight",
    "encoder.layer.{}.attention.self.key_proj.bias": "layers.{}.attn.k.bias",
    "encoder.layer.{}.attention.self.value_proj.weight": "layers.{}.attn.v.weight",
    "encoder.layer.{}.attention.self.value_proj.bias": "layers.{}.attn.v.bias",
    "encoder.layer.{}.attention.self.pos_key_proj.weight": "layers.{}.attn.pos_k.weight",
    "encoder.layer.{}.attention.self.pos_key_proj.bias": "layers.{}.attn.pos_k.bias",
    "encoder.layer.{}.attention.self.pos_query_proj.weight": "layers.{}.attn.pos_q.weight",
    "encoder.layer.{}.attention.self.pos_query_proj.bias": "layers.{}.attn.pos_q.bias",
    "encoder.layer.{}.attention.output.dense.weight": "layers.{}.attn.o.weight",
    "encoder.layer.{}.attention.output.dense.bias": "layers.{}.attn.o.bias",
    "encoder.layer.{}.attention.output.LayerNorm.weight": "layers.{}.attn_norm.weight",
    "encoder.layer.{}.attention.output.LayerNorm.bias": "layers.{}.attn_norm.bias",
    "encoder.layer.{}.intermediate.dense.weight": "layers.{}.ffn.up.weight",
    "encoder.layer.{}.intermediate.dense.bias": "layers.{}.ffn.up.bias",
    "encoder.layer.{}.output.dense.weight": "layers.{}.ffn.down.weight",
    "encoder.layer.{}.output.dense.bias": "layers.{}.ffn.down.bias",
    "encoder.layer.{}.output.LayerNorm.weight": "layers.{}.ffn_norm.weight",
    "encoder.layer.{}.output.LayerNorm.bias": "layers.{}.ffn_norm.bias",
    "encoder.rel_embeddings.weight": "rel_embed.weight",
    "encoder.LayerNorm.weight": "rel_norm.weight",
    "encoder.LayerNorm.bias": "rel_norm.bias",
}

DEBERTA_V2_TO_HF = {
    "embed.tok.weight": "embeddings.word_embeddings.weight",
    "embed.pos.weight": "embeddings.position_embeddings.weight",
    "embed.seg.weight": "embeddings.token_type_embeddings.weight",
    "embed.project.weight": "embeddings.embed_proj.weight",
    "embed.norm.weight": "embeddings.LayerNorm.weight",
    "embed.norm.bias": "embeddings.LayerNorm.bias",
    "layers.{}.attn.q.weight": "encoder.layer.{}.attention.self.query_proj.weight",
    "layers.{}.attn.q.bias": "encoder.layer.{}.attention.self.query_proj.bias",
    "layers.{}.attn.k.weight": "encoder.layer.{}.attention.self.key_proj.weight",
    "layers.{}.attn.k.bias": "encoder.layer.{}.attention.self.key_proj.bias",
    "layers.{}.attn.v.weight": "encoder.layer.{}.attention.self.value_proj.weight",
    "layers.{}.attn.v.bias": "encoder.layer.{}.attention.self.value_proj.bias",
    "layers.{}.attn.pos_k.weight": "encoder.layer.{}.attention.self.pos_key_proj.weight",
    "layers.{}.attn.pos_k.bias": "encoder.layer.{}.attention.self.pos_key_proj.bias",
    "layers.{}.attn.pos_q.weight": "encoder.layer.{}.attention.self.pos_query_proj.weight",
    "layers.{}.attn.pos_q.bias": "encoder.layer.{}.attention.self.pos_query_proj.bias",
    "layers.{}.attn.o.weight": "encoder.layer.{}.attention.output.dense.weight",
    "layers.{}.attn.o.bias": "encoder.layer.{}.attention.output.dense.bias",
    "layers.{}.attn_norm.weight": "encoder.layer.{}.attention.output.LayerNorm.weight",
    "layers.{}.attn_norm.bias": "encoder.layer.{}.attention.output.LayerNorm.bias",
    "layers.{}.ffn.up.weight": "encoder.layer.{}.intermediate.dense.weight",
    "layers.{}.ffn.up.bias": "encoder.layer.{}.intermediate.dense.bias",
    "layers.{}.ffn.down.weight": "encoder.layer.{}.output.dense.weight",
    "layers.{}.ffn.down.bias": "encoder.layer.{}.output.dense.bias",
    "layers.{}.ffn_norm.weight": "encoder.layer.{}.output.LayerNorm.weight",
    "layers.{}.ffn_norm.bias": "encoder.layer.{}.output.LayerNorm.bias",
    "rel_embed.weight": "encoder.rel_embeddings.weight",
    "rel_norm.weight": "encoder.LayerNorm.weight",
    "rel_norm.bias": "encoder.LayerNorm.bias",
}

# DeBERTa v1 (``model_type: deberta``): the same embeddings, layers and table; the attention's fused ``in_proj`` with
# its two biases, ``pos_proj`` (key side, no bias) and ``pos_q_proj``; no LayerNorm on the table.
DEBERTA_V1_FROM_HF = {
    "embeddings.word_embeddings.weight": "embed.tok.weight",
    "embeddings.position_embeddings.weight": "embed.pos.weight",
    "embeddings.token_type_embeddings.weight": "embed.seg.weight",
    "embeddings.embed_proj.weight": "embed.project.weight",
    "embeddings.LayerNorm.weight": "embed.norm.weight",
    "embeddings.LayerNorm.bias": "embed.norm.bias",
    "encoder.layer.{}.attention.self.in_proj.weight": "layers.{}.attn.in_proj.weight",
    "encoder.layer.{}.attention.self.q_bias": "layers.{}.attn.q_bias",
    "encoder.layer.{}.attention.self.v_bias": "layers.{}.attn.v_bias",
    "encoder.layer.{}.attention.self.pos_proj.weight": "layers.{}.attn.pos_k.weight",
    "encoder.layer.{}.attention.self.pos_q_proj.weight": "layers.{}.attn.pos_q.weight",
    "encoder.layer.{}.attention.self.pos_q_proj.bias": "layers.{}.attn.pos_q.bias",
    "encoder.layer.{}.attention.output.dense.weight": "layers.{}.attn.o.weight",
    "encoder.layer.{}.attention.output.dense.bias": "layers.{}.attn.o.bias",
    "encoder.layer.{}.attention.output.LayerNorm.weight": "layers.{}.attn_norm.weight",
    "encoder.layer.{}.attention.output.LayerNorm.bias": "layers.{}.attn_norm.bias",
    "encoder.layer.{}.intermediate.dense.weight": "layers.{}.ffn.up.weight",
    "encoder.layer.{}.intermediate.dense.bias": "layers.{}.ffn.up.bias",
    "encoder.layer.{}.output.dense.weight": "layers.{}.ffn.down.weight",
    "encoder.layer.{}.output.dense.bias": "layers.{}.ffn.down.bias",
    "encoder.layer.{}.output.LayerNorm.weight": "layers.{}.ffn_norm.weight",
    "encoder.layer.{}.output.LayerNorm.bias": "layers.{}.ffn_norm.bias",
    "encoder.rel_embeddings.weight": "rel_embed.weight",
}

DEBERTA_V1_TO_HF = {
    "embed.tok.weight": "embeddings.word_embeddings.weight",
    "embed.pos.weight": "embeddings.position_embeddings.weight",
    "embed.seg.weight": "embeddings.token_type_embeddings.weight",
    "embed.project.weight": "embeddings.embed_proj.weight",
    "embed.norm.weight": "embeddings.LayerNorm.weight",
    "embed.norm.bias": "embeddings.LayerNorm.bias",
    "layers.{}.attn.in_proj.weight": "encoder.layer.{}.attention.self.in_proj.weight",
    "layers.{}.attn.q_bias": "encoder.layer.{}.attention.self.q_bias",
    "layers.{}.attn.v_bias": "encoder.layer.{}.attention.self.v_bias",
    "layers.{}.attn.pos_k.weight": "encoder.layer.{}.attention.self.pos_proj.weight",
    "layers.{}.attn.pos_q.weight": "encoder.layer.{}.attention.self.pos_q_proj.weight",
    "layers.{}.attn.pos_q.bias": "encoder.layer.{}.attention.self.pos_q_proj.bias",
    "layers.{}.attn.o.weight": "encoder.layer.{}.attention.output.dense.weight",
    "layers.{}.attn.o.bias": "encoder.layer.{}.attention.output.dense.bias",
    "layers.{}.attn_norm.weight": "encoder.layer.{}.attention.output.LayerNorm.weight",
    "layers.{}.attn_norm.bias": "encoder.layer.{}.attention.output.LayerNorm.bias",
    "layers.{}.ffn.up.weight": "encoder.layer.{}.intermediate.dense.weight",
    "layers.{}.ffn.up.bias": "encoder.layer.{}.intermediate.dense.bias",
    "layers.{}.ffn.down.weight": "encoder.layer.{}.output.dense.weight",
    "layers.{}.ffn.down.bias": "encoder.layer.{}.output.dense.bias",
    "layers.{}.ffn_norm.weight": "encoder.layer.{}.output.LayerNorm.weight",
    "layers.{}.ffn_norm.bias": "encoder.layer.{}.output.LayerNorm.bias",
    "rel_embed.weight": "encoder.rel_embeddings.weight",
}

# Head weights, HF name -> embedkit name (as convert.split_hf_state_dict returns them).
DEBERTA_V2_HEADS_FROM_HF = {
    "pooler.dense.weight": "classifier.dense.weight",
    "pooler.dense.bias": "classifier.dense.bias",
    "classifier.weight": "classifier.out.weight",
    "classifier.bias": "classifier.out.bias",
    # DeBERTa-v3 pre-training heads (masked LM and replaced-token detection): recognised, not used
    "lm_predictions.lm_head.dense.weight": "mlm.dense.weight",
    "lm_predictions.lm_head.dense.bias": "mlm.dense.bias",
    "lm_predictions.lm_head.LayerNorm.weight": "mlm.norm.weight",
    "lm_predictions.lm_head.LayerNorm.bias": "mlm.norm.bias",
    "lm_predictions.lm_head.bias": "mlm.bias",
    "mask_predictions.dense.weight": "rtd.dense.weight",
    "mask_predictions.dense.bias": "rtd.dense.bias",
    "mask_predictions.LayerNorm.weight": "rtd.norm.weight",
    "mask_predictions.LayerNorm.bias": "rtd.norm.bias",
    "mask_predictions.classifier.weight": "rtd.out.weight",
    "mask_predictions.classifier.bias": "rtd.out.bias",
    # transformers' legacy DebertaV2ForMaskedLM head (legacy=True)
    "cls.predictions.transform.dense.weight": "mlm.dense.weight",
    "cls.predictions.transform.dense.bias": "mlm.dense.bias",
    "cls.predictions.transform.LayerNorm.weight": "mlm.norm.weight",
    "cls.predictions.transform.LayerNorm.bias": "mlm.norm.bias",
    "cls.predictions.bias": "mlm.bias",
    "cls.predictions.decoder.weight": "mlm.decoder.weight",
    "cls.predictions.decoder.bias": "mlm.bias",
}

# Classification head, embedkit name inside the head -> HF name.
DEBERTA_V2_CLASSIFIER_TO_HF = {
    "dense.weight": "pooler.dense.weight",
    "dense.bias": "pooler.dense.bias",
    "out.weight": "classifier.weight",
    "out.bias": "classifier.bias",
}
