"""Legacy (sentence-transformers 2.x ``model.fit``) data readers that produce :class:`InputExample` lists.

Kept so that old training scripts run; new code should build a dataset (dict of columns, ``datasets.Dataset``) for
:class:`~embedkit.sentence_transformer.trainer.SentenceTransformerTrainer`.
"""

from __future__ import annotations

from embedkit.lazy_exports import lazy_exports

_EXPORTS = {
    "InputExample": "embedkit.sentence_transformer.readers.input_example",
    "LabelSentenceReader": "embedkit.sentence_transformer.readers.label_sentence",
    "NLIDataReader": "embedkit.sentence_transformer.readers.nli_data",
    "PairedFilesReader": "embedkit.sentence_transformer.readers.paired_files",
    "STSDataReader": "embedkit.sentence_transformer.readers.sts_data",
    "STSBenchmarkDataReader": "embedkit.sentence_transformer.readers.sts_data",
    "TripletReader": "embedkit.sentence_transformer.readers.triplet",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
