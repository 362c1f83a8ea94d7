"""Model card data of a CrossEncoder (``model.model_card_data``), rendered to README.md on ``save``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from embedkit.base.model_card import (
    BaseModelCardData,
    _is_dataset_dict,
    _is_iterable_dataset,
    generate_model_card,
)

_DEFAULT_PAIRS = [
    ["How many calories in an egg",
     "There are on average between 55 and 80 calories in an egg depending on its size."],
    ["How many calories in an egg",
     "Egg whites are very low in calories, have no fat, no cholesterol, and are loaded with protein."],
    ["How many calories in an egg", "Most of the calories in an egg come from the yellow yolk in the center."],
]

__all__ = ["CrossEncoderModelCardCallback", "CrossEncoderModelCardData", "generate_model_card"]


@dataclass
class CrossEncoderModelCardData(BaseModelCardData):
    """What the README.md of a CrossEncoder reports; pass one as ``model_card_data=`` or edit
    ``model.model_card_data``. Same arguments as
    :class:`~embedkit.sentence_transformer.model_card.SentenceTransformerModelCardData`; ``task_name`` and the
    Hub ``pipeline_tag`` follow the number of labels (``text-ranking`` for 1, ``text-classification`` otherwise).

    Example:
        >>> data = CrossEncoderModelCardData(license="mit")
        >>> data.tags
        ['sentence-transformers', 'cross-encoder', 'reranker']
    """

    task_name: str | None = None
    tags: list[str] = field(default_factory=lambda: ["sentence-transformers", "cross-encoder", "reranker"])
    usage_examples: list[list] | None = field(default=None, init=False)
    ir_model: bool | None = field(default=True, init=False, repr=False)
    pipeline_tag: str | None = field(default=None, init=False)
    model: Any = field(default=None, init=False, repr=False)

    _snippet_model_class = "CrossEncoder"
    _snippet_default_model_id = "cross_encoder_model_id"
    _docs_section = "cross_encoder"

    def set_widget_examples(self, dataset: Any) -> None:
        """No Hub widget takes pairs: only pick up to 5 (query, answer) pairs of the first dataset as usage
        examples."""
        if _is_dataset_dict(dataset):
            dataset = dataset[list(dataset)[0]]
        if _is_iterable_dataset(dataset) or len(dataset) == 0:
            return
        try:
            first = dataset[0]
        except Exception:
            return
        columns = []
        for column, value in first.items():
            if column in ("dataset_name", "label"):
                continue
            if isinstance(value, str) or (isinstance(value, list) and value and isinstance(value[0], str)):
                columns.append(column)
            if len(columns) == 2:
                break
        if len(columns) < 2:
            return
        query_column, answer_column = columns
        head = dataset[:5]
        queries, answers = head[query_column], head[answer_column]
        if isinstance(first[answer_column], list):
            answers = answers[0][:5]
            queries = [queries[0]] * len(answers)
        self.usage_examples = [[query, answer] for query, answer in zip(queries, answers)]

    def register_model(self, model: Any) -> None:
        super().register_model(model)
        single = getattr(model, "num_labels", 1) == 1
        if self.task_name is None:
            self.task_name = "text reranking and semantic search" if single else "text pair classification"
        if self.pipeline_tag is None:
            self.pipeline_tag = "text-ranking" if single else "text-classification"

    def run_usage_snippet(self) -> None:
        if self.usage_examples is None:
            self.usage_examples = [list(pair) for pair in _DEFAULT_PAIRS]
        if not self.generate_widget_examples:
            return
        import numpy as np

        pairs = [[self._prepare_for_inference(x) for x in pair] for pair in self.usage_examples]
        scores = self.model.predict(pairs, convert_to_numpy=True, show_progress_bar=False)
        with np.printoptions(precision=4):
            self.similarities = "\n".join(f"# {line}" for line in str(scores).splitlines())

    def generate_usage_snippet(self) -> str:
        examples = self.usage_examples_display or self.usage_examples or [list(p) for p in _DEFAULT_PAIRS]
        num_labels = getattr(self.model, "num_labels", 1) if self.model is not None else 1
        source = self.usage_examples or examples
        multimodal = any(isinstance(pair, list) and any(not isinstance(x, str) for x in pair) for pair in source)
        lines = self._snippet_header("# Get scores for pairs of inputs") + ["pairs = ["]
        lines += [f"    {self._format_snippet_value(list(pair))}," for pair in examples]
        lines += ["]", "scores = model.predict(pairs)"]
        if self.similarities:
            lines += ["print(scores)", self.similarities]
        else:
            shape = f"({len(examples)}, {num_labels})" if num_labels > 1 else f"({len(examples)},)"
            lines += ["print(scores.shape)", f"# {shape}"]
        if num_labels == 1 and not multimodal:
            lines += ["", "# Or rank different texts based on similarity to a single text", "ranks = model.rank(",
                      f"    {examples[0][0]!r},", "    ["]
            lines += [f"        {pair[1]!r}," for pair in examples]
            lines += ["    ]", ")", "# [{'corpus_id': ..., 'score': ...}, {'corpus_id': ..., 'score': ...}, ...]"]
        return "```python\n" + "\n".join(lines) + "\n```"

    def get_model_specific_metadata(self) -> dict[str, Any]:
        metadata = super().get_model_specific_metadata()
        metadata["model_num_labels"] = getattr(self.model, "num_labels", 1)
        return metadata

    def get_default_model_name(self) -> str:
        return f"CrossEncoder based on {self.base_model}" if self.base_model else "CrossEncoder"

    # ------------------------------------------------------------------ rendering
    def _card_title(self, data: dict[str, Any]) -> str:
        return data.get("model_name") or "Cross Encoder model"

    def _card_intro(self, data: dict[str, Any], finetuned: str, datasets_text: str) -> str:
        return (f"This is a [Cross Encoder](https://www.sbert.net/docs/cross_encoder/usage/usage.html) model"
                f"{finetuned}{datasets_text} using the [sentence-transformers](https://www.SBERT.net) library. It "
                f"computes scores for pairs of texts, which can be used for {data.get('task_name')}.")

    def _card_model_type(self, data: dict[str, Any]) -> str:
        return "Cross Encoder"

    def _card_details_lines(self, data: dict[str, Any]) -> list[str]:
        labels = data.get("model_num_labels") or 1
        return [f"- **Maximum Sequence Length:** {data.get('model_max_length')} tokens",
                f"- **Number of Output Labels:** {labels} label{'s' if labels > 1 else ''}"]

    def _card_sources(self) -> list[str]:
        return ["- **Documentation:** [Sentence Transformers Documentation](https://sbert.net)",
                "- **Documentation:** [Cross Encoder Documentation](https://www.sbert.net/docs/cross_encoder/usage/"
                "usage.html)",
                "- **Repository:** [Sentence Transformers on GitHub](https://github.com/huggingface/sentence-transformers)",
                "- **Hugging Face:** [Cross Encoders on Hugging Face](https://huggingface.co/models?library="
                "sentence-transformers&other=cross-encoder)"]

    def _card_resources(self) -> list[str]:
        return ["- [Training and Finetuning Reranker Models with Sentence Transformers](https://huggingface.co/blog/"
                "train-reranker): the end-to-end guide for training or finetuning Cross Encoder (reranker) models."]


class CrossEncoderModelCardCallback:
    """Kept for imports written against sentence-transformers; embedkit's trainer fills the card directly."""

    def __init__(self, default_args_dict: dict[str, Any] | None = None) -> None:
        self.default_args_dict = default_args_dict or {}
