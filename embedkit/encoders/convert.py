"""Weight-name tables between Hugging Face checkpoints and embedkit encoders, one literal dict each way.

HF names of per-layer weights carry the layer index as ``{}``. ``hf_to_ek`` strips the known wrapper prefixes
(``bert.``, ``mpnet.``, ``roberta.``, ``distilbert.``, ``electra.``, ``albert.``, ``deberta.``, ``model.``), renames
the legacy ``gamma``/``beta`` LayerNorm names, and maps every key; a key that is neither in the table nor
known-and-ignored raises, naming it. ``ek_to_hf`` is the exact inverse, so a saved encoder loads in transformers /
sentence-transformers unchanged. ALBERT's shared layers carry two indices (group, layer in the group), both ``{}``.

Head weights (MLM and classification heads) have their own tables, used by the CrossEncoder and SparseEncoder.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

from embedkit.encoders.deberta_v2_names import (
    DEBERTA_V1_FROM_HF,
    DEBERTA_V1_TO_HF,
    DEBERTA_V2_FROM_HF,
    DEBERTA_V2_HEADS_FROM_HF,
    DEBERTA_V2_TO_HF,
)
from embedkit.encoders.gemma3_names import GEMMA3_FROM_HF, GEMMA3_TO_HF
from embedkit.encoders.gte_names import GTE_FROM_HF, GTE_HEADS_FROM_HF, GTE_TO_HF
from embedkit.encoders.llama_names import (
    EUROBERT_HEADS_FROM_HF,
    EUROBERT_LEFT_ASIDE_PREFIXES,
    LLAMA_FROM_HF,
    LLAMA_TO_HF,
)
from embedkit.encoders.modernbert_names import (
    MODERNBERT_FROM_HF,
    MODERNBERT_HEADS_FROM_HF,
    MODERNBERT_TO_HF,
)
from embedkit.encoders.nomic_bert_names import NOMIC_BERT_FROM_HF, NOMIC_BERT_TO_HF
from embedkit.encoders.qwen3_names import QWEN3_FROM_HF, QWEN3_HEADS_FROM_HF, QWEN3_TO_HF
from embedkit.encoders.t5_names import (
    T5_FROM_HF,
    T5_HEADS_FROM_HF,
    T5_LEFT_ASIDE_PREFIXES,
    T5_TO_HF,
    UMT5_FROM_HF,
    UMT5_TO_HF,
)

_BERT_FROM_HF = {
    "embeddings.word_embeddings.weight": "embed.tok.weight",
    "embeddings.position_embeddings.weight": "embed.pos.weight",
    "embeddings.token_type_embeddings.weight": "embed.seg.weight",
    "embeddings.LayerNorm.weight": "embed.norm.weight",
    "embeddings.LayerNorm.bias": "embed.norm.bias",
    "encoder.layer.{}.attention.self.query.weight": "layers.{}.attn.q.weight",
    "encoder.layer.{}.attention.self.query.bias": "layers.{}.attn.q.bias",
    "encoder.layer.{}.attention.self.key.weight": "layers.{}.attn.k.weight",
    "encoder.layer.{}.attention.self.key.bias": "layers.{}.attn.k.bias",
    "encoder.layer.{}.attention.self.value.weight": "layers.{}.attn.v.weight",
    "encoder.layer.{}.attention.self.value.bias": "layers.{}.attn.v.bias",
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
    "pooler.dense.weight": "pooler.dense.weight",
    "pooler.dense.bias": "pooler.dense.bias",
}

_BERT_TO_HF = {
    "embed.tok.weight": "embeddings.word_embeddings.weight",
    "embed.pos.weight": "embeddings.position_embeddings.weight",
    "embed.seg.weight": "embeddings.token_type_embeddings.weight",
    "embed.norm.weight": "embeddings.LayerNorm.weight",
    "embed.norm.bias": "embeddings.LayerNorm.bias",
    "layers.{}.attn.q.weight": "encoder.layer.{}.attention.self.query.weight",
    "layers.{}.attn.q.bias": "encoder.layer.{}.attention.self.query.bias",
    "layers.{}.attn.k.weight": "encoder.layer.{}.attention.self.key.weight",
    "layers.{}.attn.k.bias": "encoder.layer.{}.attention.self.key.bias",
    "layers.{}.attn.v.weight": "encoder.layer.{}.attention.self.value.weight",
    "layers.{}.attn.v.bias": "encoder.layer.{}.attention.self.value.bias",
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
    "pooler.dense.weight": "pooler.dense.weight",
    "pooler.dense.bias": "pooler.dense.bias",
}

_DISTILBERT_FROM_HF = {
    "embeddings.word_embeddings.weight": "embed.tok.weight",
    "embeddings.position_embeddings.weight": "embed.pos.weight",
    "embeddings.LayerNorm.weight": "embed.norm.weight",
    "embeddings.LayerNorm.bias": "embed.norm.bias",
    "transformer.layer.{}.attention.q_lin.weight": "layers.{}.attn.q.weight",
    "transformer.layer.{}.attention.q_lin.bias": "layers.{}.attn.q.bias",
    "transformer.layer.{}.attention.k_lin.weight": "layers.{}.attn.k.weight",
    "transformer.layer.{}.attention.k_lin.bias": "layers.{}.attn.k.bias",
    "transformer.layer.{}.attention.v_lin.weight": "layers.{}.attn.v.weight",
    "transformer.layer.{}.attention.v_lin.bias": "layers.{}.attn.v.bias",
    "transformer.layer.{}.attention.out_lin.weight": "layers.{}.attn.o.weight",
    "transformer.layer.{}.attention.out_lin.bias": "layers.{}.attn.o.bias",
    "transformer.layer.{}.sa_layer_norm.weight": "layers.{}.attn_norm.weight",
    "transformer.layer.{}.sa_layer_norm.bias": "layers.{}.attn_norm.bias",
    "transformer.layer.{}.ffn.lin1.weight": "layers.{}.ffn.up.weight",
    "transformer.layer.{}.ffn.lin1.bias": "layers.{}.ffn.up.bias",
    "transformer.layer.{}.ffn.lin2.weight": "layers.{}.ffn.down.weight",
    "transformer.layer.{}.ffn.lin2.bias": "layers.{}.ffn.down.bias",
    "transformer.layer.{}.output_layer_norm.weight": "layers.{}.ffn_norm.weight",
    "transformer.layer.{}.output_layer_norm.bias": "layers.{}.ffn_norm.bias",
}

_DISTILBERT_TO_HF = {
    "embed.tok.weight": "embeddings.word_embeddings.weight",
    "embed.pos.weight": "embeddings.position_embeddings.weight",
    "embed.norm.weight": "embeddings.LayerNorm.weight",
    "embed.norm.bias": "embeddings.LayerNorm.bias",
    "layers.{}.attn.q.weight": "transformer.layer.{}.attention.q_lin.weight",
    "layers.{}.attn.q.bias": "transformer.layer.{}.attention.q_lin.bias",
    "layers.{}.attn.k.weight": "transformer.layer.{}.attention.k_lin.weight",
    "layers.{}.attn.k.bias": "transformer.layer.{}.attention.k_lin.bias",
    "layers.{}.attn.v.weight": "transformer.layer.{}.attention.v_lin.weight",
    "layers.{}.attn.v.bias": "transformer.layer.{}.attention.v_lin.bias",
    "layers.{}.attn.o.weight": "transformer.layer.{}.attention.out_lin.weight",
    "layers.{}.attn.o.bias": "transformer.layer.{}.attention.out_lin.bias",
    "layers.{}.attn_norm.weight": "transformer.layer.{}.sa_layer_norm.weight",
    "layers.{}.attn_norm.bias": "transformer.layer.{}.sa_layer_norm.bias",
    "layers.{}.ffn.up.weight": "transformer.layer.{}.ffn.lin1.weight",
    "layers.{}.ffn.up.bias": "transformer.layer.{}.ffn.lin1.bias",
    "layers.{}.ffn.down.weight": "transformer.layer.{}.ffn.lin2.weight",
    "layers.{}.ffn.down.bias": "transformer.layer.{}.ffn.lin2.bias",
    "layers.{}.ffn_norm.weight": "transformer.layer.{}.output_layer_norm.weight",
    "layers.{}.ffn_norm.bias": "transformer.layer.{}.output_layer_norm.bias",
}

_MPNET_FROM_HF = {
    "embeddings.word_embeddings.weight": "embed.tok.weight",
    "embeddings.position_embeddings.weight": "embed.pos.weight",
    "embeddings.LayerNorm.weight": "embed.norm.weight",
    "embeddings.LayerNorm.bias": "embed.norm.bias",
    "encoder.relative_attention_bias.weight": "rel_bias.weight",
    "encoder.layer.{}.attention.attn.q.weight": "layers.{}.attn.q.weight",
    "encoder.layer.{}.attention.attn.q.bias": "layers.{}.attn.q.bias",
    "encoder.layer.{}.attention.attn.k.weight": "layers.{}.attn.k.weight",
    "encoder.layer.{}.attention.attn.k.bias": "layers.{}.attn.k.bias",
    "encoder.layer.{}.attention.attn.v.weight": "layers.{}.attn.v.weight",
    "encoder.layer.{}.attention.attn.v.bias": "layers.{}.attn.v.bias",
    "encoder.layer.{}.attention.attn.o.weight": "layers.{}.attn.o.weight",
    "encoder.layer.{}.attention.attn.o.bias": "layers.{}.attn.o.bias",
    "encoder.layer.{}.attention.LayerNorm.weight": "layers.{}.attn_norm.weight",
    "encoder.layer.{}.attention.LayerNorm.bias": "layers.{}.attn_norm.bias",
    "encoder.layer.{}.intermediate.dense.weight": "layers.{}.ffn.up.weight",
    "encoder.layer.{}.intermediate.dense.bias": "layers.{}.ffn.up.bias",
    "encoder.layer.{}.output.dense.weight": "layers.{}.ffn.down.weight",
    "encoder.layer.{}.output.dense.bias": "layers.{}.ffn.down.bias",
    "encoder.layer.{}.output.LayerNorm.weight": "layers.{}.ffn_norm.weight",
    "encoder.layer.{}.output.LayerNorm.bias": "layers.{}.ffn_norm.bias",
    "pooler.dense.weight": "pooler.dense.weight",
    "pooler.dense.bias": "pooler.dense.bias",
}

_MPNET_TO_HF = {
    "embed.tok.weight": "embeddings.word_embeddings.weight",
    "embed.pos.weight": "embeddings.position_embeddings.weight",
    "embed.norm.weight": "embeddings.LayerNorm.weight",
    "embed.norm.bias": "embeddings.LayerNorm.bias",
    "rel_bias.weight": "encoder.relative_attention_bias.weight",
    "layers.{}.attn.q.weight": "encoder.layer.{}.attention.attn.q.weight",
    "layers.{}.attn.q.bias": "encoder.layer.{}.attention.attn.q.bias",
    "layers.{}.attn.k.weight": "encoder.layer.{}.attention.attn.k.weight",
    "layers.{}.attn.k.bias": "encoder.layer.{}.attention.attn.k.bias",
    "layers.{}.attn.v.weight": "encoder.layer.{}.attention.attn.v.weight",
    "layers.{}.attn.v.bias": "encoder.layer.{}.attention.attn.v.bias",
    "layers.{}.attn.o.weight": "encoder.layer.{}.attention.attn.o.weight",
    "layers.{}.attn.o.bias": "encoder.layer.{}.attention.attn.o.bias",
    "layers.{}.attn_norm.weight": "encoder.layer.{}.attention.LayerNorm.weight",
    "layers.{}.attn_norm.bias": "encoder.layer.{}.attention.LayerNorm.bias",
    "layers.{}.ffn.up.weight": "encoder.layer.{}.intermediate.dense.weight",
    "layers.{}.ffn.up.bias": "encoder.layer.{}.intermediate.dense.bias",
    "layers.{}.ffn.down.weight": "encoder.layer.{}.output.dense.weight",
    "layers.{}.ffn.down.bias": "encoder.layer.{}.output.dense.bias",
    "layers.{}.ffn_norm.weight": "encoder.layer.{}.output.LayerNorm.weight",
    "layers.{}.ffn_norm.bias": "encoder.layer.{}.output.LayerNorm.bias",
    "pooler.dense.weight": "pooler.dense.weight",
    "pooler.dense.bias": "pooler.dense.bias",
}

# Heads, HF name (after the wrapper prefix) -> embedkit name inside the head module. Used by CrossEncoder/SPLADE.
_BERT_HEADS_FROM_HF = {
    "cls.predictions.transform.dense.weight": "mlm.dense.weight",
    "cls.predictions.transform.dense.bias": "mlm.dense.bias",
    "cls.predictions.transform.LayerNorm.weight": "mlm.norm.weight",
    "cls.predictions.transform.LayerNorm.bias": "mlm.norm.bias",
    "cls.predictions.bias": "mlm.bias",
    "cls.predictions.decoder.weight": "mlm.decoder.weight",  # tied to the word embeddings
    "cls.predictions.decoder.bias": "mlm.bias",  # tied to cls.predictions.bias
    "cls.seq_relationship.weight": "nsp.weight",
    "cls.seq_relationship.bias": "nsp.bias",
    "classifier.weight": "classifier.out.weight",
    "classifier.bias": "classifier.out.bias",
}

_MPNET_HEADS_FROM_HF = {
    "lm_head.dense.weight": "mlm.dense.weight",
    "lm_head.dense.bias": "mlm.dense.bias",
    "lm_head.layer_norm.weight": "mlm.norm.weight",
    "lm_head.layer_norm.bias": "mlm.norm.bias",
    "lm_head.bias": "mlm.bias",
    "lm_head.decoder.weight": "mlm.decoder.weight",  # tied to the word embeddings
    "lm_head.decoder.bias": "mlm.bias",  # tied to lm_head.bias
    "classifier.dense.weight": "classifier.dense.weight",
    "classifier.dense.bias": "classifier.dense.bias",
    "classifier.out_proj.weight": "classifier.out.weight",
    "classifier.out_proj.bias": "classifier.out.bias",
}

_DISTILBERT_HEADS_FROM_HF = {
    "vocab_transform.weight": "mlm.dense.weight",
    "vocab_transform.bias": "mlm.dense.bias",
    "vocab_layer_norm.weight": "mlm.norm.weight",
    "vocab_layer_norm.bias": "mlm.norm.bias",
    "vocab_projector.bias": "mlm.bias",
    "vocab_projector.weight": "mlm.decoder.weight",  # tied to the word embeddings
    "pre_classifier.weight": "classifier.pre_classifier.weight",
    "pre_classifier.bias": "classifier.pre_classifier.bias",
    "classifier.weight": "classifier.out.weight",
    "classifier.bias": "classifier.out.bias",
}

# ELECTRA: BERT's encoder names (under ``electra.``; no pooler) plus the projection from the embedding width.
_ELECTRA_FROM_HF = {
    **{k: v for k, v in _BERT_FROM_HF.items() if not k.startswith("pooler.")},
    "embeddings_project.weight": "embed.project.weight",
    "embeddings_project.bias": "embed.project.bias",
}
_ELECTRA_TO_HF = {
    **{k: v for k, v in _BERT_TO_HF.items() if not k.startswith("pooler.")},
    "embed.project.weight": "embeddings_project.weight",
    "embed.project.bias": "embeddings_project.bias",
}
# Its classifier has MPNet's names; the pre-training heads (discriminator and generator) are recognised, not used.
_ELECTRA_HEADS_FROM_HF = {
    "classifier.dense.weight": "classifier.dense.weight",
    "classifier.dense.bias": "classifier.dense.bias",
    "classifier.out_proj.weight": "classifier.out.weight",
    "classifier.out_proj.bias": "classifier.out.bias",
    "discriminator_predictions.dense.weight": "rtd.dense.weight",
    "discriminator_predictions.dense.bias": "rtd.dense.bias",
    "discriminator_predictions.dense_prediction.weight": "rtd.out.weight",
    "discriminator_predictions.dense_prediction.bias": "rtd.out.bias",
    "generator_predictions.dense.weight": "generator.dense.weight",
    "generator_predictions.dense.bias": "generator.dense.bias",
    "generator_predictions.LayerNorm.weight": "generator.norm.weight",
    "generator_predictions.LayerNorm.bias": "generator.norm.bias",
    "generator_lm_head.weight": "generator.decoder.weight",
    "generator_lm_head.bias": "generator.bias",
}

# ALBERT: BERT's embedding names (at width embedding_size), the projection and the shared layers under ``encoder.``
# (``{}`` twice: group, then layer within the group), and its pooler as a bare Linear.
_ALBERT_FROM_HF = {
    "embeddings.word_embeddings.weight": "embed.tok.weight",
    "embeddings.position_embeddings.weight": "embed.pos.weight",
    "embeddings.token_type_embeddings.weight": "embed.seg.weight",
    "embeddings.LayerNorm.weight": "embed.norm.weight",
    "embeddings.LayerNorm.bias": "embed.norm.bias",
    "encoder.embedding_hidden_mapping_in.weight": "embed.project.weight",
    "encoder.embedding_hidden_mapping_in.bias": "embed.project.bias",
    "encoder.albert_layer_groups.{}.albert_layers.{}.attention.query.weight": "groups.{}.layers.{}.attn.q.weight",
    "encoder.albert_layer_groups.{}.albert_layers.{}.attention.query.bias": "groups.{}.layers.{}.attn.q.bias",
    "encoder.albert_layer_groups.{}.albert_layers.{}.attention.key.weight": "groups.{}.layers.{}.attn.k.weight",
    "encoder.albert_layer_groups.{}.albert_layers.{}.attention.key.bias": "groups.{}.layers.{}.attn.k.bias",
    "encoder.albert_layer_groups.{}.albert_layers.{}.attention.value.weight": "groups.{}.layers.{}.attn.v.weight",
    "encoder.albert_layer_groups.{}.albert_layers.{}.attention.value.bias": "groups.{}.layers.{}.attn.v.bias",
    "encoder.albert_layer_groups.{}.albert_layers.{}.attention.dense.weight": "groups.{}.layers.{}.attn.o.weight",
    "encoder.albert_layer_groups.{}.albert_layers.{}.attention.dense.bias": "groups.{}.layers.{}.attn.o.bias",
    "encoder.albert_layer_groups.{}.albert_layers.{}.attention.LayerNorm.weight":
        "groups.{}.layers.{}.attn_norm.weight",
    "encoder.albert_layer_groups.{}.albert_layers.{}.attention.LayerNorm.bias": "groups.{}.layers.{}.attn_norm.bias",
    "encoder.albert_layer_groups.{}.albert_layers.{}.ffn.weight": "groups.{}.layers.{}.ffn.up.weight",
    "encoder.albert_layer_groups.{}.albert_layers.{}.ffn.bias": "groups.{}.layers.{}.ffn.up.bias",
    "encoder.albert_layer_groups.{}.albert_layers.{}.ffn_output.weight": "groups.{}.layers.{}.ffn.down.weight",
    "encoder.albert_layer_groups.{}.albert_layers.{}.ffn_output.bias": "groups.{}.layers.{}.ffn.down.bias",
    "encoder.albert_layer_groups.{}.albert_layers.{}.full_layer_layer_norm.weight":
        "groups.{}.layers.{}.ffn_norm.weight",
    "encoder.albert_layer_groups.{}.albert_layers.{}.full_layer_layer_norm.bias":
        "groups.{}.layers.{}.ffn_norm.bias",
    "pooler.weight": "pooler.dense.weight",
    "pooler.bias": "pooler.dense.bias",
}
_ALBERT_TO_HF = {
    "embed.tok.weight": "embeddings.word_embeddings.weight",
    "embed.pos.weight": "embeddings.position_embeddings.weight",
    "embed.seg.weight": "embeddings.token_type_embeddings.weight",
    "embed.norm.weight": "embeddings.LayerNorm.weight",
    "embed.norm.bias": "embeddings.LayerNorm.bias",
    "embed.project.weight": "encoder.embedding_hidden_mapping_in.weight",
    "embed.project.bias": "encoder.embedding_hidden_mapping_in.bias",
    "groups.{}.layers.{}.attn.q.weight": "encoder.albert_layer_groups.{}.albert_layers.{}.attention.query.weight",
    "groups.{}.layers.{}.attn.q.bias": "encoder.albert_layer_groups.{}.albert_layers.{}.attention.query.bias",
    "groups.{}.layers.{}.attn.k.weight": "encoder.albert_layer_groups.{}.albert_layers.{}.attention.key.weight",
    "groups.{}.layers.{}.attn.k.bias": "encoder.albert_layer_groups.{}.albert_layers.{}.attention.key.bias",
    "groups.{}.layers.{}.attn.v.weight": "encoder.albert_layer_groups.{}.albert_layers.{}.attention.value.weight",
    "groups.{}.layers.{}.attn.v.bias": "encoder.albert_layer_groups.{}.albert_layers.{}.attention.value.bias",
    "groups.{}.layers.{}.attn.o.weight": "encoder.albert_layer_groups.{}.albert_layers.{}.attention.dense.weight",
    "groups.{}.layers.{}.attn.o.bias": "encoder.albert_layer_groups.{}.albert_layers.{}.attention.dense.bias",
    "groups.{}.layers.{}.attn_norm.weight":
        "encoder.albert_layer_groups.{}.albert_layers.{}.attention.LayerNorm.weight",
    "groups.{}.layers.{}.attn_norm.bias": "encoder.albert_layer_groups.{}.albert_layers.{}.attention.LayerNorm.bias",
    "groups.{}.layers.{}.ffn.up.weight": "encoder.albert_layer_groups.{}.albert_layers.{}.ffn.weight",
    "groups.{}.layers.{}.ffn.up.bias": "encoder.albert_layer_groups.{}.albert_layers.{}.ffn.bias",
    "groups.{}.layers.{}.ffn.down.weight": "encoder.albert_layer_groups.{}.albert_layers.{}.ffn_output.weight",
    "groups.{}.layers.{}.ffn.down.bias": "encoder.albert_layer_groups.{}.albert_layers.{}.ffn_output.bias",
    "groups.{}.layers.{}.ffn_norm.weight":
        "encoder.albert_layer_groups.{}.albert_layers.{}.full_layer_layer_norm.weight",
    "groups.{}.layers.{}.ffn_norm.bias":
        "encoder.albert_layer_groups.{}.albert_layers.{}.full_layer_layer_norm.bias",
    "pooler.dense.weight": "pooler.weight",
    "pooler.dense.bias": "pooler.bias",
}
# Its classifier is BERT's (on the pooler); the masked-LM head (``predictions.*``, decoder tied to the word
# embeddings) and AlbertForPreTraining's sentence-order head are recognised and left aside (no SPLADE on ALBERT).
_ALBERT_HEADS_FROM_HF = {
    "classifier.weight": "classifier.out.weight",
    "classifier.bias": "classifier.out.bias",
    "predictions.dense.weight": "mlm.dense.weight",
    "predictions.dense.bias": "mlm.dense.bias",
    "predictions.LayerNorm.weight": "mlm.norm.weight",
    "predictions.LayerNorm.bias": "mlm.norm.bias",
    "predictions.bias": "mlm.bias",
    "predictions.decoder.weight": "mlm.decoder.weight",  # tied to the word embeddings
    "predictions.decoder.bias": "mlm.bias",  # tied to predictions.bias
    "sop_classifier.classifier.weight": "sop.weight",
    "sop_classifier.classifier.bias": "sop.bias",
}

# RoBERTa, XLM-RoBERTa and CamemBERT checkpoints use BERT's encoder names (under a ``roberta.`` prefix) and MPNet's
# head names (``lm_head.*``; ``classifier.dense`` / ``classifier.out_proj``), so those literal tables serve them too.
FROM_HF = {"bert": _BERT_FROM_HF, "mpnet": _MPNET_FROM_HF, "roberta": _BERT_FROM_HF, "xlm-roberta": _BERT_FROM_HF,
           "camembert": _BERT_FROM_HF, "distilbert": _DISTILBERT_FROM_HF}
TO_HF = {"bert": _BERT_TO_HF, "mpnet": _MPNET_TO_HF, "roberta": _BERT_TO_HF, "xlm-roberta": _BERT_TO_HF,
         "camembert": _BERT_TO_HF, "distilbert": _DISTILBERT_TO_HF}
HEADS_FROM_HF = {"bert": _BERT_HEADS_FROM_HF, "mpnet": _MPNET_HEADS_FROM_HF, "roberta": _MPNET_HEADS_FROM_HF,
                 "xlm-roberta": _MPNET_HEADS_FROM_HF, "camembert": _MPNET_HEADS_FROM_HF,
                 "distilbert": _DISTILBERT_HEADS_FROM_HF}
FROM_HF["electra"] = _ELECTRA_FROM_HF
TO_HF["electra"] = _ELECTRA_TO_HF
HEADS_FROM_HF["electra"] = _ELECTRA_HEADS_FROM_HF
FROM_HF["albert"] = _ALBERT_FROM_HF
TO_HF["albert"] = _ALBERT_TO_HF
HEADS_FROM_HF["albert"] = _ALBERT_HEADS_FROM_HF

# ModernBERT's tables (its own module, modernbert_names.py: names unlike the BERT family's).
FROM_HF["modernbert"] = MODERNBERT_FROM_HF
TO_HF["modernbert"] = MODERNBERT_TO_HF
HEADS_FROM_HF["modernbert"] = MODERNBERT_HEADS_FROM_HF

# Qwen3's tables (qwen3_names.py): a decoder's names, ``model.`` prefixed in its *For* checkpoints.
FROM_HF["qwen3"] = QWEN3_FROM_HF
TO_HF["qwen3"] = QWEN3_TO_HF
HEADS_FROM_HF["qwen3"] = QWEN3_HEADS_FROM_HF
FROM_HF["gemma3_text"] = GEMMA3_FROM_HF  # Gemma 3: Qwen3's names plus two norms per layer, the decoders' heads
TO_HF["gemma3_text"] = GEMMA3_TO_HF
HEADS_FROM_HF["gemma3_text"] = QWEN3_HEADS_FROM_HF
FROM_HF["gemma2"] = GEMMA3_FROM_HF  # Gemma 2: Gemma 3's names (its checkpoints have no q_norm / k_norm rows)
TO_HF["gemma2"] = GEMMA3_TO_HF
HEADS_FROM_HF["gemma2"] = QWEN3_HEADS_FROM_HF

FROM_HF["llama"] = FROM_HF["mistral"] = FROM_HF["qwen2"] = LLAMA_FROM_HF  # llama_names.py: Qwen3's without norms
TO_HF["llama"] = TO_HF["mistral"] = TO_HF["qwen2"] = LLAMA_TO_HF
HEADS_FROM_HF["llama"] = HEADS_FROM_HF["mistral"] = HEADS_FROM_HF["qwen2"] = QWEN3_HEADS_FROM_HF
FROM_HF["eurobert"], TO_HF["eurobert"] = LLAMA_FROM_HF, LLAMA_TO_HF  # EuroBERT: Llama's names, its own heads
HEADS_FROM_HF["eurobert"] = EUROBERT_HEADS_FROM_HF

# T5 and mT5 (t5_names.py): the encoder of an encoder-decoder; a full checkpoint's decoder is left aside.
FROM_HF["t5"] = FROM_HF["mt5"] = T5_FROM_HF
TO_HF["t5"] = TO_HF["mt5"] = T5_TO_HF
HEADS_FROM_HF["t5"] = HEADS_FROM_HF["mt5"] = T5_HEADS_FROM_HF
FROM_HF["umt5"], TO_HF["umt5"], HEADS_FROM_HF["umt5"] = UMT5_FROM_HF, UMT5_TO_HF, T5_HEADS_FROM_HF  # a bias per layer
# DeBERTa-v2 / v3 (deberta_v2_names.py): BERT-like names with their own attention projections, ``deberta.`` prefixed.
FROM_HF["deberta-v2"] = DEBERTA_V2_FROM_HF
TO_HF["deberta-v2"] = DEBERTA_V2_TO_HF
HEADS_FROM_HF["deberta-v2"] = DEBERTA_V2_HEADS_FROM_HF
# DeBERTa v1: the fused per-head in_proj and its biases; the heads are named as v2's.
FROM_HF["deberta"] = DEBERTA_V1_FROM_HF
TO_HF["deberta"] = DEBERTA_V1_TO_HF
HEADS_FROM_HF["deberta"] = DEBERTA_V2_HEADS_FROM_HF
# NomicBERT (nomic_bert_names.py): Nomic's own names, fused Wqkv; no heads.
FROM_HF["nomic_bert"] = NOMIC_BERT_FROM_HF
TO_HF["nomic_bert"] = NOMIC_BERT_TO_HF
HEADS_FROM_HF["nomic_bert"] = {}
# GTE (gte_names.py): Alibaba's names under both dialects' model types, fused qkv_proj and up_gate_proj.
FROM_HF["gte"] = FROM_HF["new"] = GTE_FROM_HF
TO_HF["gte"] = TO_HF["new"] = GTE_TO_HF
HEADS_FROM_HF["gte"] = HEADS_FROM_HF["new"] = GTE_HEADS_FROM_HF
# Per model type, prefixes of weights of parts an embedding model does not load (returned with the heads, under
# their HF names, so that the loader can name what it leaves aside).
LEFT_ASIDE_PREFIXES = {"t5": T5_LEFT_ASIDE_PREFIXES, "mt5": T5_LEFT_ASIDE_PREFIXES, "umt5": T5_LEFT_ASIDE_PREFIXES,
                       "eurobert": EUROBERT_LEFT_ASIDE_PREFIXES}

# Buffers some checkpoints carry that hold no learned state.
_IGNORE = {"embeddings.position_ids", "embeddings.token_type_ids"}
_PREFIXES = ("bert.", "mpnet.", "roberta.", "distilbert.", "electra.", "albert.", "deberta.", "model.", "gte.",
             "new.")
_LEGACY_SUFFIXES = {".gamma": ".weight", ".beta": ".bias"}
_LAYER_INDEX = re.compile(r"\.(\d+)\.")
_INDICES = re.compile(r"\.(\d+)(?=\.)")  # every index of a name (ALBERT's group and layer)


def normalize_hf_key(key: str) -> str:
    """Strip one known wrapper prefix and rename legacy ``gamma``/``beta`` LayerNorm parameters."""
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    for old, new in _LEGACY_SUFFIXES.items():
        if key.endswith(old) and ("LayerNorm" in key or "layer_norm" in key):
            key = key[: -len(old)] + new
    return key


def get_mapped_key(key: str, table: dict[str, str]) -> str | None:
    """Look ``key`` up in a table whose per-layer entries hold ``{}`` for the layer index (first index only: T5's
    ``layer.0`` is part of its names), or, failing that, ``{}`` for every index (ALBERT's group and layer).

    Example:
        >>> get_mapped_key("encoder.albert_layer_groups.1.albert_layers.0.ffn.weight", FROM_HF["albert"])
        'groups.1.layers.0.ffn.up.weight'
    """
    if key in table:
        return table[key]
    match = _LAYER_INDEX.search(key)
    if match is None:
        return None
    template = key[: match.start()] + ".{}." + key[match.end() :]
    mapped = table.get(template)
    if mapped is not None:
        return mapped.format(match.group(1))
    indices = _INDICES.findall(key)
    if len(indices) < 2:
        return None
    mapped = table.get(_INDICES.sub(".{}", key))
    return None if mapped is None else mapped.format(*indices)


def split_hf_state_dict(
    state_dict: dict[str, Tensor], model_type: str, source: str = "checkpoint"
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Split a HF state dict into (encoder weights, head weights), both under embedkit names.

    Raises:
        ValueError: a key is neither an encoder weight, a known head weight nor an ignored buffer.
    """
    encoder_table, head_table = FROM_HF[model_type], HEADS_FROM_HF[model_type]
    encoder, heads, unknown = {}, {}, []
    for raw_key, tensor in state_dict.items():
        key = normalize_hf_key(raw_key)
        if key in _IGNORE:
            continue
        if (mapped := get_mapped_key(key, encoder_table)) is not None:
            if mapped in encoder and not torch.equal(encoder[mapped], tensor):  # T5's shared / encoder.embed_tokens
                raise ValueError(f"{source}: {raw_key} and another weight both hold {mapped} (tied) but differ")
            encoder[mapped] = tensor
        elif key in head_table:
            heads.setdefault(head_table[key], tensor)
        elif key.startswith(LEFT_ASIDE_PREFIXES.get(model_type, ())):
            heads[key] = tensor
        else:
            unknown.append(raw_key)
    if unknown:
        raise ValueError(f"{source}: unexpected weights for a {model_type} model: {sorted(unknown)}")
    return encoder, heads


def describe_weights(keys: list[str], model_type: str) -> list[str]:
    """``keys`` sorted for a log line, those under a left-aside prefix (T5's decoder) counted instead of listed.

    Example:
        >>> describe_weights(["lm_head.weight", "decoder.block.0.x", "decoder.final_layer_norm.weight"], "t5")
        ['decoder.* (2 weights)', 'lm_head.weight']
    """
    prefixes = LEFT_ASIDE_PREFIXES.get(model_type, ())
    counted = [f"{p}* ({n} weights)" for p in prefixes if (n := sum(k.startswith(p) for k in keys))]
    return counted + sorted(k for k in keys if not k.startswith(prefixes))


def hf_name_with_head(name: str, model_type: str, encoder_attr: str, prefix: str, head_attr: str,
                      head_table: dict[str, str]) -> str | None:
    """The transformers name of parameter ``name`` of a model holding an encoder (``encoder_attr``, saved under
    ``prefix``) and a head (``head_attr``, named by ``head_table``); None for a parameter transformers lacks.

    Example:
        >>> hf_name_with_head("encoder.layers.0.attn.q.weight", "bert", "encoder", "bert.", "classifier",
        ...                   {"out.weight": "classifier.weight"})
        'bert.encoder.layer.0.attention.self.query.weight'
    """
    if name.startswith(encoder_attr + "."):
        mapped = get_mapped_key(name[len(encoder_attr) + 1:], TO_HF[model_type])
        return None if mapped is None else prefix + mapped
    if name.startswith(head_attr + "."):
        return head_table.get(name[len(head_attr) + 1:])
    return None


def ek_to_hf(state_dict: dict[str, Tensor], model_type: str) -> dict[str, Tensor]:
    """Rename embedkit encoder weights to HF names (no prefix, as AutoModel saves them)."""
    table = TO_HF[model_type]
    out = {}
    for key, tensor in state_dict.items():
        mapped = get_mapped_key(key, table)
        if mapped is None:
            raise ValueError(f"no HF name for embedkit weight {key!r} ({model_type})")
        out[mapped] = tensor
    return out
