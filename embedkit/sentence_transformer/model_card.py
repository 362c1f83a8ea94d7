"""Model card data of a SentenceTransformer (``model.model_card_data``), rendered to README.md on ``save``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from embedkit.base.model_card import BaseModelCardData, generate_model_card
from embedkit.base.model_card_examples import distinct_values

_SIMILARITY_NAMES = {"cosine": "Cosine Similarity", "dot": "Dot Product", "euclidean": "Euclidean Distance",
                     "manhattan": "Manhattan Distance"}
_IR_EXAMPLES = [
    "Which planet is known as the Red Planet?",
    "Venus is often called Earth's twin because of its similar size and proximity.",
    "Mars, known for its reddish appearance, is often referred to as the Red Planet.",
    "Saturn, famous for its rings, is sometimes mistaken for the Red Planet.",
]
_PLAIN_EXAMPLES = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]


def similarity_title(name: str | None, default: str = "Cosine Similarity") -> str:
    """``"cosine"`` -> ``"Cosine Similarity"`` (unknown names are title-cased)."""
    if not name:
        return default
    return _SIMILARITY_NAMES.get(name, name.replace("_", " ").title())


def similarity_comment(similarity: Any) -> str:
    """A score tensor as ``# tensor(...)`` comment lines (4 decimals, no scientific notation)."""
    import torch

    with torch._tensor_str.printoptions(precision=4, sci_mode=False):
        return "\n".join(f"# {line}" for line in str(similarity.cpu()).splitlines())

__all__ = ["SentenceTransformerModelCardCallback", "SentenceTransformerModelCardData", "generate_model_card"]


@dataclass
class SentenceTransformerModelCardData(BaseModelCardData):
    """What the README.md of a SentenceTransformer reports; pass one as ``model_card_data=`` to set the language,
    license, Hub id or dataset names, or edit ``model.model_card_data``.

    Args:
        language: e.g. ``"en"`` or ``["en", "de"]``.
        license: e.g. ``"apache-2.0"``.
        model_name: pretty name, e.g. ``"SentenceTransformer based on microsoft/mpnet-base"``.
        model_id: Hub id for the usage snippet, e.g. ``"user/my-model"``.
        train_datasets / eval_datasets: ``[{"name": "SNLI", "id": "stanfordnlp/snli"}, ...]``.
        task_name: what the model is for.
        tags: Hub tags.
        local_files_only: never query the Hub for base model or dataset information.
        generate_widget_examples: encode the usage examples on save to show real similarities.

    Example:
        >>> data = SentenceTransformerModelCardData(language="en", model_id="user/my-model")
        >>> data.language, data.tags[-1]
        (['en'], 'dense')
    """

    task_name: str = (
        "semantic textual similarity, semantic search, paraphrase mining, classification, clustering, and more"
    )
    tags: list[str] = field(default_factory=lambda: ["sentence-transformers", "sentence-similarity",
                                                     "feature-extraction", "dense"])
    model: Any = field(default=None, init=False, repr=False)

    def try_to_set_base_model(self) -> None:
        super().try_to_set_base_model()
        first = self.model[0] if self.model is not None and len(self.model) else None
        if self.base_model is None and type(first).__name__ == "StaticEmbedding" and getattr(first, "base_model",
                                                                                             None):
            self.set_base_model(first.base_model)

    def run_usage_snippet(self) -> None:
        if self.usage_examples is None:
            self.usage_examples = list(_IR_EXAMPLES if self.ir_model else _PLAIN_EXAMPLES)
        if not self.generate_widget_examples:
            return
        examples = [self._prepare_for_inference(item) for item in self.usage_examples]
        if self.ir_model:
            queries = self.model.encode_query(examples[0], convert_to_tensor=True, show_progress_bar=False)
            documents = self.model.encode_document(examples[1:], convert_to_tensor=True, show_progress_bar=False)
            similarity = self.model.similarity(queries, documents)
        else:
            self.usage_examples = self.usage_examples[:3]
            embeddings = self.model.encode(examples[:3], convert_to_tensor=True, show_progress_bar=False)
            similarity = self.model.similarity(embeddings, embeddings)
        self.similarities = similarity_comment(similarity)

    def get_model_specific_metadata(self) -> dict[str, Any]:
        metadata = super().get_model_specific_metadata()
        metadata["output_dimensionality"] = self.model.get_embedding_dimension()
        metadata["similarity_fn_name"] = similarity_title(getattr(self.model, "similarity_fn_name", None))
        return metadata

    def generate_usage_snippet(self) -> str:
        if not self.ir_model:
            return super().generate_usage_snippet()
        examples = self.usage_examples_display or self.usage_examples or list(_IR_EXAMPLES)
        dim = self._get_snippet_output_dimensionality()
        documents = examples[1:]
        lines = self._snippet_header() + ["queries = [", f"    {self._format_snippet_value(examples[0])},", "]",
                                          "documents = ["]
        lines += [f"    {self._format_snippet_value(item)}," for item in documents]
        lines += ["]", "query_embeddings = model.encode_query(queries)",
                  "document_embeddings = model.encode_document(documents)",
                  "print(query_embeddings.shape, document_embeddings.shape)",
                  f"# [1, {dim}] [{len(documents)}, {dim}]", "", "# Get the similarity scores for the embeddings",
                  "similarities = model.similarity(query_embeddings, document_embeddings)"]
        if self.similarities:
            lines += ["print(similarities)", self.similarities]
        else:
            lines += ["print(similarities.shape)", f"# [1, {len(documents)}]"]
        return "```python\n" + "\n".join(lines) + "\n```"

    def _set_multimodal_usage_examples(self, dataset: Any) -> None:
        """IR models take the query from the first column and up to 3 distinct documents from the second."""
        if not self.ir_model:
            return super()._set_multimodal_usage_examples(dataset)
        for sub in dataset.values():
            if not hasattr(sub, "column_names") or len(sub) == 0 or len(sub.column_names) < 2:
                continue
            query_column, document_column = sub.column_names[:2]
            self.usage_examples = [sub[0][query_column], *distinct_values(self, sub, document_column)]
            return
        return None


class SentenceTransformerModelCardCallback:
    """Kept for imports written against sentence-transformers; embedkit's trainer fills the card directly."""

    def __init__(self, default_args_dict: dict[str, Any] | None = None) -> None:
        self.default_args_dict = default_args_dict or {}


ModelCardCallback = SentenceTransformerModelCardCallback
