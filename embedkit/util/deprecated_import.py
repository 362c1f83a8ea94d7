"""sentence-transformers 5.x import paths, served as aliases of embedkit's 6.x-layout modules.

embedkit's code lives where sentence-transformers 6.x keeps it (``embedkit.sentence_transformer.losses``,
``embedkit.base.modules``, ...). The 5.x paths (``embedkit.losses``, ``embedkit.models.Pooling`` as a module,
``embedkit.SentenceTransformer`` as a module, ...) still import: each is the very module object of its 6.x
path, with the DeprecationWarning sentence-transformers 6.x gives. ``DEPRECATED_MODULE_PATHS`` is the whole table
(the same paths as sentence-transformers 6.2's, with ``embedkit`` for ``sentence_transformers``); nothing else
aliases module paths.

Importing a one-module-per-class path such as ``embedkit.losses.CoSENTLoss`` must not replace the class that the
parent package exports under the same name (the import system binds the module on its parent); the parent is given
a module class that keeps such names bound to the class.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
import warnings
from typing import Any

DEPRECATED_MODULE_PATHS: dict[str, str] = {
    # Moved in sentence-transformers v6.0.0
    "embedkit.sentence_transformer.modules.normalize": "embedkit.base.modules.normalize",
    # Moved in sentence-transformers v5.4.0
    "embedkit.SentenceTransformer": "embedkit.sentence_transformer.model",
    "embedkit.sparse_encoder.SparseEncoder": "embedkit.sparse_encoder.model",
    "embedkit.cross_encoder.CrossEncoder": "embedkit.cross_encoder.model",
    "embedkit.quantization": "embedkit.util.quantization",
    "embedkit.similarity_functions": "embedkit.util.similarity",
    "embedkit.training_args": "embedkit.sentence_transformer.training_args",
    "embedkit.trainer": "embedkit.sentence_transformer.trainer",
    "embedkit.sampler": "embedkit.base.sampler",
    "embedkit.peft_mixin": "embedkit.base.peft_mixin",
    "embedkit.model_card": "embedkit.sentence_transformer.model_card",
    "embedkit.data_collator": "embedkit.sentence_transformer.data_collator",
    "embedkit.LoggingHandler": "embedkit.util.logging",
    "embedkit.datasets": "embedkit.sentence_transformer.datasets",
    "embedkit.datasets.DenoisingAutoEncoderDataset": "embedkit.sentence_transformer.datasets.denoising_auto_encoder",
    "embedkit.datasets.NoDuplicatesDataLoader": "embedkit.sentence_transformer.datasets.no_duplicates_dataloader",
    "embedkit.datasets.ParallelSentencesDataset": "embedkit.sentence_transformer.datasets.parallel_sentences",
    "embedkit.datasets.SentenceLabelDataset": "embedkit.sentence_transformer.datasets.sentence_label",
    "embedkit.datasets.SentencesDataset": "embedkit.sentence_transformer.datasets.sentences",
    "embedkit.evaluation": "embedkit.sentence_transformer.evaluation",
    "embedkit.evaluation.BinaryClassificationEvaluator":
        "embedkit.sentence_transformer.evaluation.binary_classification",
    "embedkit.evaluation.EmbeddingSimilarityEvaluator": "embedkit.sentence_transformer.evaluation.embedding_similarity",
    "embedkit.evaluation.InformationRetrievalEvaluator":
        "embedkit.sentence_transformer.evaluation.information_retrieval",
    "embedkit.evaluation.LabelAccuracyEvaluator": "embedkit.sentence_transformer.evaluation.label_accuracy",
    "embedkit.evaluation.MSEEvaluator": "embedkit.sentence_transformer.evaluation.mse",
    "embedkit.evaluation.NanoBEIREvaluator": "embedkit.sentence_transformer.evaluation.nano_beir",
    "embedkit.evaluation.ParaphraseMiningEvaluator": "embedkit.sentence_transformer.evaluation.paraphrase_mining",
    "embedkit.evaluation.RerankingEvaluator": "embedkit.sentence_transformer.evaluation.reranking",
    "embedkit.evaluation.SentenceEvaluator": "embedkit.base.evaluation.evaluator",
    "embedkit.evaluation.SequentialEvaluator": "embedkit.base.evaluation.sequential",
    "embedkit.evaluation.SimilarityFunction": "embedkit.util.similarity",
    "embedkit.evaluation.TranslationEvaluator": "embedkit.sentence_transformer.evaluation.translation",
    "embedkit.evaluation.TripletEvaluator": "embedkit.sentence_transformer.evaluation.triplet",
    "embedkit.losses": "embedkit.sentence_transformer.losses",
    "embedkit.losses.AdaptiveLayerLoss": "embedkit.sentence_transformer.losses.adaptive_layer",
    "embedkit.losses.AnglELoss": "embedkit.sentence_transformer.losses.angle",
    "embedkit.losses.BatchAllTripletLoss": "embedkit.sentence_transformer.losses.batch_all_triplet",
    "embedkit.losses.BatchHardSoftMarginTripletLoss":
        "embedkit.sentence_transformer.losses.batch_hard_soft_margin_triplet",
    "embedkit.losses.BatchHardTripletLoss": "embedkit.sentence_transformer.losses.batch_hard_triplet",
    "embedkit.losses.BatchSemiHardTripletLoss": "embedkit.sentence_transformer.losses.batch_semi_hard_triplet",
    "embedkit.losses.CachedGISTEmbedLoss": "embedkit.sentence_transformer.losses.cached_gist_embed",
    "embedkit.losses.CachedMultipleNegativesRankingLoss":
        "embedkit.sentence_transformer.losses.cached_multiple_negatives_ranking",
    "embedkit.losses.CachedMultipleNegativesSymmetricRankingLoss":
        "embedkit.sentence_transformer.losses.cached_multiple_negatives_symmetric_ranking",
    "embedkit.losses.CoSENTLoss": "embedkit.sentence_transformer.losses.cosent",
    "embedkit.losses.ContrastiveLoss": "embedkit.sentence_transformer.losses.contrastive",
    "embedkit.losses.ContrastiveTensionLoss": "embedkit.sentence_transformer.losses.contrastive_tension",
    "embedkit.losses.CosineSimilarityLoss": "embedkit.sentence_transformer.losses.cosine_similarity",
    "embedkit.losses.DenoisingAutoEncoderLoss": "embedkit.sentence_transformer.losses.denoising_auto_encoder",
    "embedkit.losses.DistillKLDivLoss": "embedkit.sentence_transformer.losses.distill_kl_div",
    "embedkit.losses.GISTEmbedLoss": "embedkit.sentence_transformer.losses.gist_embed",
    "embedkit.losses.MSELoss": "embedkit.sentence_transformer.losses.mse",
    "embedkit.losses.MarginMSELoss": "embedkit.sentence_transformer.losses.margin_mse",
    "embedkit.losses.Matryoshka2dLoss": "embedkit.sentence_transformer.losses.matryoshka_2d",
    "embedkit.losses.MatryoshkaLoss": "embedkit.sentence_transformer.losses.matryoshka",
    "embedkit.losses.MegaBatchMarginLoss": "embedkit.sentence_transformer.losses.mega_batch_margin",
    "embedkit.losses.MultipleNegativesRankingLoss": "embedkit.sentence_transformer.losses.multiple_negatives_ranking",
    "embedkit.losses.MultipleNegativesSymmetricRankingLoss":
        "embedkit.sentence_transformer.losses.multiple_negatives_symmetric_ranking",
    "embedkit.losses.OnlineContrastiveLoss": "embedkit.sentence_transformer.losses.online_contrastive",
    "embedkit.losses.SoftmaxLoss": "embedkit.sentence_transformer.losses.softmax",
    "embedkit.losses.TripletLoss": "embedkit.sentence_transformer.losses.triplet",
    "embedkit.models": "embedkit.sentence_transformer.modules",
    "embedkit.models.Asym": "embedkit.base.modules.router",
    "embedkit.models.BoW": "embedkit.sentence_transformer.modules.bow",
    "embedkit.models.CLIPModel": "embedkit.sentence_transformer.modules.clip_model",
    "embedkit.models.CNN": "embedkit.sentence_transformer.modules.cnn",
    "embedkit.models.Dense": "embedkit.base.modules.dense",
    "embedkit.models.Dropout": "embedkit.sentence_transformer.modules.dropout",
    "embedkit.models.InputModule": "embedkit.base.modules.input_module",
    "embedkit.models.LSTM": "embedkit.sentence_transformer.modules.lstm",
    "embedkit.models.LayerNorm": "embedkit.sentence_transformer.modules.layer_norm",
    "embedkit.models.Module": "embedkit.base.modules.module",
    "embedkit.models.Normalize": "embedkit.base.modules.normalize",
    "embedkit.models.Pooling": "embedkit.sentence_transformer.modules.pooling",
    "embedkit.models.Router": "embedkit.base.modules.router",
    "embedkit.models.StaticEmbedding": "embedkit.sentence_transformer.modules.static_embedding",
    "embedkit.models.Transformer": "embedkit.base.modules.transformer",
    "embedkit.models.WeightedLayerPooling": "embedkit.sentence_transformer.modules.weighted_layer_pooling",
    "embedkit.models.WordEmbeddings": "embedkit.sentence_transformer.modules.word_embeddings",
    "embedkit.models.WordWeights": "embedkit.sentence_transformer.modules.word_weights",
    "embedkit.models.tokenizer": "embedkit.sentence_transformer.modules.tokenizer",
    "embedkit.models.tokenizer.PhraseTokenizer": "embedkit.sentence_transformer.modules.tokenizer.phrase",
    "embedkit.models.tokenizer.WhitespaceTokenizer": "embedkit.sentence_transformer.modules.tokenizer.whitespace",
    "embedkit.models.tokenizer.WordTokenizer": "embedkit.sentence_transformer.modules.tokenizer.word",
    "embedkit.readers": "embedkit.sentence_transformer.readers",
    "embedkit.readers.InputExample": "embedkit.sentence_transformer.readers.input_example",
    "embedkit.readers.LabelSentenceReader": "embedkit.sentence_transformer.readers.label_sentence",
    "embedkit.readers.PairedFilesReader": "embedkit.sentence_transformer.readers.paired_files",
    "embedkit.readers.NLIDataReader": "embedkit.sentence_transformer.readers.nli_data",
    "embedkit.readers.STSDataReader": "embedkit.sentence_transformer.readers.sts_data",
    "embedkit.readers.TripletReader": "embedkit.sentence_transformer.readers.triplet",
    "embedkit.sparse_encoder.models": "embedkit.sparse_encoder.modules",
    "embedkit.sparse_encoder.models.MLMTransformer": "embedkit.sparse_encoder.modules.mlm_transformer",
    "embedkit.sparse_encoder.models.SparseAutoEncoder": "embedkit.sparse_encoder.modules.sparse_auto_encoder",
    "embedkit.sparse_encoder.models.SparseStaticEmbedding": "embedkit.sparse_encoder.modules.sparse_static_embedding",
    "embedkit.sparse_encoder.models.SpladePooling": "embedkit.sparse_encoder.modules.splade_pooling",
    # Renamed in sentence-transformers v5.4.0 (approximately TitleCase -> snake_case)
    "embedkit.cross_encoder.losses.BinaryCrossEntropyLoss": "embedkit.cross_encoder.losses.binary_cross_entropy",
    "embedkit.cross_encoder.losses.CachedMultipleNegativesRankingLoss":
        "embedkit.cross_encoder.losses.cached_multiple_negatives_ranking",
    "embedkit.cross_encoder.losses.CrossEntropyLoss": "embedkit.cross_encoder.losses.cross_entropy",
    "embedkit.cross_encoder.losses.LambdaLoss": "embedkit.cross_encoder.losses.lambda_loss",
    "embedkit.cross_encoder.losses.ListMLELoss": "embedkit.cross_encoder.losses.list_mle",
    "embedkit.cross_encoder.losses.ListNetLoss": "embedkit.cross_encoder.losses.list_net",
    "embedkit.cross_encoder.losses.MSELoss": "embedkit.cross_encoder.losses.mse",
    "embedkit.cross_encoder.losses.MarginMSELoss": "embedkit.cross_encoder.losses.margin_mse",
    "embedkit.cross_encoder.losses.MultipleNegativesRankingLoss":
        "embedkit.cross_encoder.losses.multiple_negatives_ranking",
    "embedkit.cross_encoder.losses.PListMLELoss": "embedkit.cross_encoder.losses.plist_mle",
    "embedkit.cross_encoder.losses.RankNetLoss": "embedkit.cross_encoder.losses.rank_net",
    "embedkit.sparse_encoder.evaluation.ReciprocalRankFusionEvaluator":
        "embedkit.sparse_encoder.evaluation.reciprocal_rank_fusion",
    "embedkit.sparse_encoder.evaluation.SparseBinaryClassificationEvaluator":
        "embedkit.sparse_encoder.evaluation.sparse_binary_classification",
    "embedkit.sparse_encoder.evaluation.SparseEmbeddingSimilarityEvaluator":
        "embedkit.sparse_encoder.evaluation.sparse_embedding_similarity",
    "embedkit.sparse_encoder.evaluation.SparseInformationRetrievalEvaluator":
        "embedkit.sparse_encoder.evaluation.sparse_information_retrieval",
    "embedkit.sparse_encoder.evaluation.SparseMSEEvaluator": "embedkit.sparse_encoder.evaluation.sparse_mse",
    "embedkit.sparse_encoder.evaluation.SparseNanoBEIREvaluator": "embedkit.sparse_encoder.evaluation.sparse_nano_beir",
    "embedkit.sparse_encoder.evaluation.SparseRerankingEvaluator":
        "embedkit.sparse_encoder.evaluation.sparse_reranking",
    "embedkit.sparse_encoder.evaluation.SparseTranslationEvaluator":
        "embedkit.sparse_encoder.evaluation.sparse_translation",
    "embedkit.sparse_encoder.evaluation.SparseTripletEvaluator": "embedkit.sparse_encoder.evaluation.sparse_triplet",
    "embedkit.sparse_encoder.losses.CSRLoss": "embedkit.sparse_encoder.losses.csr",
    "embedkit.sparse_encoder.losses.CachedSpladeLoss": "embedkit.sparse_encoder.losses.cached_splade",
    "embedkit.sparse_encoder.losses.FlopsLoss": "embedkit.sparse_encoder.losses.flops",
    "embedkit.sparse_encoder.losses.SparseAnglELoss": "embedkit.sparse_encoder.losses.sparse_angle",
    "embedkit.sparse_encoder.losses.SparseCoSENTLoss": "embedkit.sparse_encoder.losses.sparse_cosent",
    "embedkit.sparse_encoder.losses.SparseCosineSimilarityLoss":
        "embedkit.sparse_encoder.losses.sparse_cosine_similarity",
    "embedkit.sparse_encoder.losses.SparseDistillKLDivLoss": "embedkit.sparse_encoder.losses.sparse_distill_kl_div",
    "embedkit.sparse_encoder.losses.SparseMSELoss": "embedkit.sparse_encoder.losses.sparse_mse",
    "embedkit.sparse_encoder.losses.SparseMarginMSELoss": "embedkit.sparse_encoder.losses.sparse_margin_mse",
    "embedkit.sparse_encoder.losses.SparseMultipleNegativesRankingLoss":
        "embedkit.sparse_encoder.losses.sparse_multiple_negatives_ranking",
    "embedkit.sparse_encoder.losses.SparseTripletLoss": "embedkit.sparse_encoder.losses.sparse_triplet",
    "embedkit.sparse_encoder.losses.SpladeLoss": "embedkit.sparse_encoder.losses.splade",
    # Deprecated in sentence-transformers v4.0.0
    "embedkit.cross_encoder.evaluation.CEBinaryAccuracyEvaluator": "embedkit.cross_encoder.evaluation.deprecated",
    "embedkit.cross_encoder.evaluation.CEBinaryClassificationEvaluator": "embedkit.cross_encoder.evaluation.deprecated",
    "embedkit.cross_encoder.evaluation.CEF1Evaluator": "embedkit.cross_encoder.evaluation.deprecated",
    "embedkit.cross_encoder.evaluation.CESoftmaxAccuracyEvaluator": "embedkit.cross_encoder.evaluation.deprecated",
    "embedkit.cross_encoder.evaluation.CECorrelationEvaluator": "embedkit.cross_encoder.evaluation.deprecated",
    "embedkit.cross_encoder.evaluation.CERerankingEvaluator": "embedkit.cross_encoder.evaluation.deprecated",
}

_KEPT: dict[str, set[str]] = {}  # package __name__ -> attribute names that stay bound to their class


class _KeepsClassAttributes(types.ModuleType):
    """A package whose class attributes are not overwritten by the module of a same-named 5.x path."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _KEPT.get(self.__name__, ()):
            return
        super().__setattr__(name, value)


def _keep_class_attribute(alias: str) -> None:
    parent_name, _, child = alias.rpartition(".")
    parent = sys.modules.get(parent_name)
    if parent is None:
        return
    current = getattr(parent, child, None)
    if current is None or isinstance(current, types.ModuleType):
        return
    _KEPT.setdefault(parent.__name__, set()).add(child)
    if not isinstance(parent, _KeepsClassAttributes):
        parent.__class__ = _KeepsClassAttributes


class _AliasLoader(importlib.abc.Loader):
    """Hands the import system a module that is already loaded, leaving its spec as it was."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.spec = module.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = self.spec  # the import system set the alias's spec; the module keeps its own


def _caller_frame() -> types.FrameType | None:
    frame = sys._getframe(2)
    while frame is not None and (frame.f_code.co_filename.startswith("<frozen importlib")
                                 or "importlib" in frame.f_code.co_filename or frame.f_code.co_filename == __file__):
        frame = frame.f_back
    return frame


class DeprecatedPathFinder(importlib.abc.MetaPathFinder):
    """Finds the 5.x paths of ``DEPRECATED_MODULE_PATHS``; every other name is left to the regular finders."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        new_path = DEPRECATED_MODULE_PATHS.get(fullname)
        if new_path is None:
            return None
        message = (f"Importing from '{fullname}' is deprecated and will be removed in a future version. "
                   f"Please use '{new_path}' instead.")
        frame = _caller_frame()
        if frame is None:
            warnings.warn(message, DeprecationWarning, stacklevel=2)
        else:
            warnings.warn_explicit(message, DeprecationWarning, frame.f_code.co_filename, frame.f_lineno,
                                   module=frame.f_globals.get("__name__"), registry=frame.f_globals.setdefault(
                                       "__warningregistry__", {}))
        module = importlib.import_module(new_path)
        _keep_class_attribute(fullname)
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module))


def install() -> None:
    """Put the finder first in ``sys.meta_path`` (once), ahead of the path finder that would load a file twice.

    Example:
        >>> import warnings
        >>> install()
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     from embedkit.losses.CoSENTLoss import CoSENTLoss
        >>> from embedkit.sentence_transformer.losses import CoSENTLoss as new
        >>> CoSENTLoss is new
        True
    """
    if not any(isinstance(finder, DeprecatedPathFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, DeprecatedPathFinder())
