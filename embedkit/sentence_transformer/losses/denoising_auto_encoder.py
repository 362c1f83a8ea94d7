"""DenoisingAutoEncoderLoss (TSDAE): reconstruct the original sentence from the embedding of a damaged copy.

The encoder embeds the damaged text; a BERT decoder (:class:`embedkit.encoders.decoder.BertDecoder`) cross-attends
to that single vector and predicts the original text token by token (teacher forcing); the loss is the token
cross-entropy, padding ignored. By default the decoder is tied to the encoder: it shares the encoder's embeddings
and self-attention / feed-forward blocks (the same parameters), and owns only its cross-attention and LM-head
transform.

References:
    - Wang, Reimers and Gurevych, 2021, "TSDAE: Using Transformer-based Sequential Denoising Auto-Encoder for
      Unsupervised Sentence Embedding Learning", arXiv:2104.06979.
    - sentence-transformers ``sentence_transformer/losses/denoising_auto_encoder.py`` (v6.2), whose constructor,
      defaults, config dict and computation this file follows (with a transformers ``BertLMHeadModel`` there).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

from torch import Tensor, nn

from embedkit.encoders.decoder import BertDecoder

logger = logging.getLogger(__name__)

_CITATION = """
@inproceedings{wang-2021-TSDAE,
    title = "TSDAE: Using Transformer-based Sequential Denoising Auto-Encoderfor Unsupervised Sentence Embedding Learning",
    author = "Wang, Kexin and Reimers, Nils and Gurevych, Iryna",
    booktitle = "Findings of the Association for Computational Linguistics: EMNLP 2021",
    month = nov,
    year = "2021",
    address = "Punta Cana, Dominican Republic",
    publisher = "Association for Computational Linguistics",
    pages = "671--688",
    url = "https://arxiv.org/abs/2104.06979",
}
"""  # noqa: E501


class DenoisingAutoEncoderLoss(nn.Module):
    """TSDAE: token cross-entropy of a decoder that rebuilds the original text from the damaged text's embedding.

    Args:
        model: The SentenceTransformer to train: a BERT Transformer first, and a sentence embedding of the
            encoder's hidden size (e.g. Transformer + CLS pooling, as in the TSDAE paper).
        decoder_name_or_path: A BERT folder or Hub id for an untied decoder (its tokenizer re-tokenizes the
            targets if the vocabularies differ). Ignored, with a warning, when ``tie_encoder_decoder``.
        tie_encoder_decoder: Share the encoder's embeddings and layers with the decoder (the TSDAE default).

    Inputs:
        +--------------------------------+--------+
        | Texts                          | Labels |
        +================================+========+
        | (damaged text, original text)  | none   |
        +--------------------------------+--------+

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit.sentence_transformer.modules import Pooling, Transformer
        >>> transformer = Transformer(default_model_path())
        >>> model = SentenceTransformer(modules=[transformer, Pooling(384, "cls")], device="cpu")
        >>> loss = DenoisingAutoEncoderLoss(model)
        >>> features = [model.preprocess(["cat sat mat"]), model.preprocess(["the cat sat on the mat"])]
        >>> loss(features, None).backward()
    """

    def __init__(
        self,
        model: nn.Module,
        decoder_name_or_path: str | os.PathLike | None = None,
        tie_encoder_decoder: bool = True,
    ) -> None:
        super().__init__()
        transformer = model[0]
        encoder = getattr(transformer, "auto_model", None)
        config = getattr(transformer, "config", None)
        if encoder is None or getattr(config, "model_type", None) != "bert":
            raise ValueError(f"DenoisingAutoEncoderLoss needs a BERT Transformer as the model's first module, got "
                             f"{type(transformer).__name__} ({getattr(config, 'model_type', None)!r})")
        if decoder_name_or_path is None and not tie_encoder_decoder:
            raise ValueError("decoder_name_or_path is required when tie_encoder_decoder=False")
        self.encoder = model
        self.tokenizer_encoder = transformer.tokenizer
        if tie_encoder_decoder:
            if decoder_name_or_path is not None:
                logger.warning("tie_encoder_decoder=True: ignoring decoder_name_or_path=%r", decoder_name_or_path)
            self.decoder_name_or_path = str(transformer.tokenizer.folder)
            self.decoder = BertDecoder(config, encoder=encoder)
            self.decoder.load_checkpoint_head(_weights_folder(transformer))  # as transformers: a pretrained head
            self.tokenizer_decoder = self.tokenizer_encoder
        else:
            from embedkit.hub import resolve_model_path
            from embedkit.tokenizer import Tokenizer

            self.decoder_name_or_path = str(decoder_name_or_path)
            self.decoder = BertDecoder.from_pretrained(decoder_name_or_path)
            self.tokenizer_decoder = Tokenizer(resolve_model_path(decoder_name_or_path))
        self.need_retokenization = (
            self.tokenizer_decoder.backend.get_vocab() != self.tokenizer_encoder.backend.get_vocab()
        )
        embedding_dim = model.get_embedding_dimension()
        if embedding_dim != self.decoder.config.hidden_size:
            raise ValueError(
                f"the decoder attends to the sentence embedding, which must have its hidden size "
                f"{self.decoder.config.hidden_size}; the model's embedding dimension is {embedding_dim} "
                f"(drop Dense layers, or pool the Transformer output directly)"
            )

    def retokenize(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        """Decode ``input_ids`` with the encoder's tokenizer and tokenize the texts with the decoder's."""
        texts = [self.tokenizer_encoder.decode(row.tolist()) for row in features["input_ids"]]
        device = features["input_ids"].device
        return {k: v.to(device) for k, v in self.tokenizer_decoder(texts).items()}

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        source, target = tuple(sentence_features)
        if self.need_retokenization:
            target = self.retokenize(target)
        reps = self.encoder(source)["sentence_embedding"]  # (B, D)
        target_ids = target["input_ids"]  # (B, T)
        logits = self.decoder(target_ids[:, :-1], memory=reps[:, None],
                              memory_mask=source["attention_mask"][:, :1])  # (B, T-1, V)
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target_ids[:, 1:].reshape(-1),
                                           ignore_index=self.tokenizer_decoder.pad_token_id)

    def get_config_dict(self) -> dict[str, Any]:
        return {"decoder_name_or_path": self.decoder_name_or_path, "need_retokenization": self.need_retokenization}

    @property
    def citation(self) -> str:
        return _CITATION


def _weights_folder(transformer: nn.Module) -> str:
    """The folder the Transformer's weights were read from (its checkpoint), or "" for one built in memory."""
    from embedkit.hub import resolve_model_path

    name = getattr(transformer, "name_or_path", None)
    if not name:
        return ""
    try:
        return str(resolve_model_path(name))
    except Exception:  # a Hub id not in the cache, offline: no checkpoint head to read
        return ""
