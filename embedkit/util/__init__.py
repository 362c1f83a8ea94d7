"""Embedding utilities (sentence-transformers' ``util``): similarity, search, quantization, hard negatives, helpers.

Names are loaded on first use (``import embedkit.util`` does not import torch), from the submodule that
sentence-transformers 6.x keeps them in.
"""

from __future__ import annotations

from embedkit.lazy_exports import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["resolve_ids"], "embedkit.util.dataset"),
    **dict.fromkeys(["save_to_hub_args_decorator"], "embedkit.util.decorators"),
    **dict.fromkeys(["all_gather", "all_gather_padded", "all_gather_with_grad", "get_rank", "get_world_size"],
                    "embedkit.util.distributed"),
    **dict.fromkeys(["check_package_availability", "check_version_requirements", "get_device_name",
                     "is_accelerate_available", "is_datasets_available", "is_dist_initialized",
                     "is_training_available"], "embedkit.util.environment"),
    **dict.fromkeys(["disabled_tqdm", "http_get", "is_sentence_transformer_model", "load_dir_path",
                     "load_file_path"], "embedkit.util.file_io"),
    **dict.fromkeys(["mine_hard_negatives"], "embedkit.util.hard_negatives"),
    **dict.fromkeys(["LoggingHandler", "install_logger"], "embedkit.util.logging"),
    **dict.fromkeys(["ORIGINAL_TRANSFORMER_MODELS", "append_to_last_row", "check_teacher_targets",
                     "disable_datasets_caching", "disable_logging", "fullname", "import_from_string",
                     "import_module_class", "similarity_fct_name"], "embedkit.util.misc"),
    **dict.fromkeys(["quantize_embeddings", "semantic_search_faiss", "semantic_search_usearch"],
                    "embedkit.util.quantization"),
    **dict.fromkeys(["community_detection", "information_retrieval", "paraphrase_mining",
                     "paraphrase_mining_embeddings", "semantic_search"], "embedkit.util.retrieval"),
    **dict.fromkeys(["SimilarityFunction", "cos_sim", "dot_score", "euclidean_sim", "manhattan_sim", "maxsim",
                     "maxsim_pairwise", "mean_maxsim", "mean_maxsim_pairwise", "pairwise_angle_sim",
                     "pairwise_cos_sim", "pairwise_dot_score", "pairwise_euclidean_sim", "pairwise_manhattan_sim",
                     "pytorch_cos_sim"], "embedkit.util.similarity"),
    **dict.fromkeys(["_convert_to_batch", "_convert_to_batch_tensor", "_convert_to_tensor", "_move_tensors_to_cpu",
                     "batch_to_device", "cat_padded_token_embeddings", "compute_count_vector", "normalize_embeddings",
                     "repad_flattened_features", "select_max_active_dims", "stack_padded_token_embeddings",
                     "truncate_embeddings"], "embedkit.util.tensor"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
