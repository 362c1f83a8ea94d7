"""Legacy (sentence-transformers 2.x ``model.fit``) datasets and data loaders of :class:`InputExample` s.

Kept so that old training scripts run; new code should pass a dataset and ``batch_sampler=`` to
:class:`~embedkit.sentence_transformer.trainer.SentenceTransformerTrainer`.
"""

from __future__ import annotations

from embedkit.lazy_exports import lazy_exports

_EXPORTS = {
    "DenoisingAutoEncoderDataset": "embedkit.sentence_transformer.datasets.denoising_auto_encoder",
    "NoDuplicatesDataLoader": "embedkit.sentence_transformer.datasets.no_duplicates_dataloader",
    "ParallelSentencesDataset": "embedkit.sentence_transformer.datasets.parallel_sentences",
    "SentenceLabelDataset": "embedkit.sentence_transformer.datasets.sentence_label",
    "SentencesDataset": "embedkit.sentence_transformer.datasets.sentences",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
