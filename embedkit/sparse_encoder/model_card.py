"""Model card data of a SparseEncoder (``model.model_card_data``), rendered to README.md on ``save``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from embedkit.base.model_card import BaseModelCardData, generate_model_card
from embedkit.sentence_transformer.model_card import (
    similarity_comment,
    similarity_title,
)

__all__ = ["SparseEncoderModelCardCallback", "SparseEncoderModelCardData", "generate_model_card"]


@dataclass
class SparseEncoderModelCardData(BaseModelCardData):
    """What the README.md of a SparseEncoder reports; pass one as ``model_card_data=`` or edit
    ``model.model_card_data``. Same arguments as
    :class:`~embedkit.sentence_transformer.model_card.SentenceTransformerModelCardData`. The model type
    (e.g. "SPLADE Sparse Encoder", "CSR Sparse Encoder") is read from the modules when the model is attached.

    Example:
        >>> SparseEncoderModelCardData().tags
        ['sentence-transformers', 'sparse-encoder', 'sparse']
    """

    task_name: str | None = None
    tags: list[str] = field(default_factory=lambda: ["sentence-transformers", "sparse-encoder", "sparse"])
    usage_examples: list | None = field(default=None, init=False)
    pipeline_tag: str | None = field(default=None, init=False)
    model_type: str = field(default="Sparse Encoder", init=False, repr=False)
    model: Any = field(default=None, init=False, repr=False)

    _snippet_model_class = "SparseEncoder"
    _snippet_default_model_id = "sparse_encoder_model_id"
    _docs_section = "sparse_encoder"

    def register_model(self, model: Any) -> None:
        super().register_model(model)
        if self.task_name is None:
            self.task_name = "semantic search and sparse retrieval"
        if self.pipeline_tag is None:
            self.pipeline_tag = "feature-extraction"
        names = {type(module).__name__ for module in model.modules()}
        kinds = [label for cls, label in (("Router", "Asymmetric"), ("SparseStaticEmbedding", "Inference-free"),
                                          ("SpladePooling", "SPLADE"), ("SparseAutoEncoder", "CSR")) if cls in names]
        self.add_tags([kind.lower() for kind in kinds])
        self.model_type = " ".join([*kinds, "Sparse Encoder"])

    def get_model_specific_metadata(self) -> dict[str, Any]:
        metadata = super().get_model_specific_metadata()
        metadata["output_dimensionality"] = self.model.get_embedding_dimension()
        metadata["similarity_fn_name"] = similarity_title(getattr(self.model, "similarity_fn_name", None),
                                                          "Dot Product")
        metadata["max_active_dims"] = getattr(self.model, "max_active_dims", None)
        return metadata

    def run_usage_snippet(self) -> None:
        super().run_usage_snippet()
        if not self.generate_widget_examples:
            return
        self.usage_examples = self.usage_examples[:3]
        examples = [self._prepare_for_inference(item) for item in self.usage_examples]
        embeddings = self.model.encode(examples, convert_to_tensor=True, show_progress_bar=False)
        similarity = self.model.similarity(embeddings, embeddings)
        if getattr(similarity, "is_sparse", False):
            similarity = similarity.to_dense()
        self.similarities = similarity_comment(similarity)

    def get_default_model_name(self) -> str:
        return self.model_type

    # ------------------------------------------------------------------ rendering
    def _card_title(self, data: dict[str, Any]) -> str:
        return data.get("model_name") or f"{self.model_type or 'Sparse Encoder'} model"

    def _card_intro(self, data: dict[str, Any], finetuned: str, datasets_text: str) -> str:
        csr = (f" with {data.get('max_active_dims')} maximum active dimensions"
               if "CSR" in (self.model_type or "") else "")
        return (f"This is a [{self.model_type or 'Sparse Encoder'}](https://www.sbert.net/docs/sparse_encoder/usage/"
                f"usage.html) model{finetuned}{datasets_text} using the [sentence-transformers](https://www.SBERT.net)"
                f" library. It maps inputs to a {data.get('output_dimensionality')}-dimensional sparse vector space"
                f"{csr} and can be used for {data.get('task_name')}.")

    def _card_model_type(self, data: dict[str, Any]) -> str:
        return self.model_type or "Sparse Encoder"

    def _card_details_lines(self, data: dict[str, Any]) -> list[str]:
        lines = super()._card_details_lines(data)
        if data.get("max_active_dims"):
            lines = [line + f" (trained with {data['max_active_dims']} maximum active dimensions)"
                     if line.startswith("- **Output Dimensionality:**") else line for line in lines]
        return lines

    def _card_sources(self) -> list[str]:
        return ["- **Documentation:** [Sentence Transformers Documentation](https://sbert.net)",
                "- **Documentation:** [Sparse Encoder Documentation](https://www.sbert.net/docs/sparse_encoder/usage/"
                "usage.html)",
                "- **Repository:** [Sentence Transformers on GitHub](https://github.com/huggingface/sentence-transformers)",
                "- **Hugging Face:** [Sparse Encoders on Hugging Face](https://huggingface.co/models?library="
                "sentence-transformers&other=sparse-encoder)"]

    def _card_resources(self) -> list[str]:
        return ["- [Training and Finetuning Sparse Embedding Models with Sentence Transformers](https://huggingface.co/"
                "blog/train-sparse-encoder): the end-to-end guide for training or finetuning SPLADE and other sparse "
                "encoder models."]


class SparseEncoderModelCardCallback:
    """Kept for imports written against sentence-transformers; embedkit's trainer fills the card directly."""

    def __init__(self, default_args_dict: dict[str, Any] | None = None) -> None:
        self.default_args_dict = default_args_dict or {}
