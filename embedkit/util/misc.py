"""Miscellaneous helpers: class paths and imports, logging/caching switches, CSV rows, distillation checks."""

from __future__ import annotations

import csv
import functools
import importlib
import importlib.util
import inspect
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "ORIGINAL_TRANSFORMER_MODELS",
    "append_to_last_row",
    "check_teacher_targets",
    "disable_datasets_caching",
    "disable_logging",
    "fullname",
    "import_from_string",
    "import_module_class",
    "similarity_fct_name",
]

logger = logging.getLogger(__name__)

# Class references saved by sentence-transformers name its package; embedkit serves the same paths.
_ST_PREFIX = "sentence_transformers."


def _embedkit_path(dotted_path: str) -> str:
    if dotted_path.startswith(_ST_PREFIX):
        return "embedkit." + dotted_path[len(_ST_PREFIX):]
    return dotted_path


def fullname(obj: Any) -> str:
    """Dotted ``module.Class`` path of ``obj``'s class (or of ``obj`` if it is a class); builtins give the bare name.

    Example:
        >>> from collections import OrderedDict
        >>> fullname(OrderedDict()), fullname(int)
        ('collections.OrderedDict', 'int')
    """
    cls = obj if inspect.isclass(obj) else type(obj)
    module = cls.__module__
    if module is None or module == str.__module__:
        return cls.__name__
    return f"{module}.{cls.__name__}"


def similarity_fct_name(similarity_fct: Callable[..., Any]) -> str:
    """Readable name of a scoring callable, as written into a loss's config dict (and the model card).

    A function gives its ``__name__``; a :func:`functools.partial` gives ``name(key=value, ...)`` for its
    keyword bindings; a model's bound ``similarity`` / ``similarity_pairwise`` gives the function the model's
    ``similarity_fn_name`` resolves to; an object with ``get_config_dict()`` gives ``Name(key=value, ...)``; any
    other callable its type name.

    Example:
        >>> similarity_fct_name(functools.partial(max, default=0))
        'max(default=0)'
    """
    if isinstance(similarity_fct, functools.partial):
        name = getattr(similarity_fct.func, "__name__", type(similarity_fct.func).__name__)
        bound = ", ".join(f"{key}={value!r}" for key, value in similarity_fct.keywords.items())
        return f"{name}({bound})" if bound else name
    name = getattr(similarity_fct, "__name__", type(similarity_fct).__name__)
    owner = getattr(similarity_fct, "__self__", None)
    if name in ("similarity", "similarity_pairwise") and hasattr(owner, "similarity_fn_name"):
        from embedkit.util.similarity import SimilarityFunction

        resolve = (SimilarityFunction.to_similarity_fn if name == "similarity"
                   else SimilarityFunction.to_similarity_pairwise_fn)
        return resolve(owner.similarity_fn_name).__name__
    config = getattr(similarity_fct, "get_config_dict", None)
    if config is not None:
        return f"{name}(" + ", ".join(f"{key}={value!r}" for key, value in config().items()) + ")"
    return name


def import_from_string(dotted_path: str) -> Any:
    """Import ``package.module.Name`` and return ``Name``.

    ``sentence_transformers.*`` paths (as saved in sentence-transformers model configs) resolve to the
    matching ``embedkit.*`` objects. Deprecation warnings raised by the import are silenced.

    Raises:
        ImportError: If the path has no dot, the module cannot be imported or lacks the attribute.

    Example:
        >>> import_from_string("collections.OrderedDict")
        <class 'collections.OrderedDict'>
    """
    try:
        module_path, name = dotted_path.rsplit(".", 1)
    except ValueError:
        raise ImportError(f"{dotted_path} doesn't look like a module path") from None
    target = _embedkit_path(dotted_path)
    target_module = _embedkit_path(module_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            module = importlib.import_module(target)
        except Exception:
            module = importlib.import_module(target_module)
    try:
        return getattr(module, name)
    except AttributeError:
        raise ImportError(f'Module "{module_path}" does not define a "{name}" attribute/class') from None


def _load_repository_class(
    class_ref: str,
    model_name_or_path: str,
    revision: str | None,
    code_revision: str | None,
    token: bool | str | None,
    cache_folder: str | None,
    local_files_only: bool,
) -> type:
    """Import ``module.Class`` from ``module.py`` in the model folder or Hub repo.

    Raises ``OSError`` when the file is absent and ``ValueError`` when it lacks the class.
    """
    if "." not in class_ref:
        raise ValueError(f"{class_ref!r} is not a 'module.Class' reference")
    module_name, class_name = class_ref.rsplit(".", 1)
    relative = module_name.replace(".", "/") + ".py"
    if os.path.isdir(model_name_or_path):
        file_path = os.path.join(model_name_or_path, relative)
        if not os.path.isfile(file_path):
            raise OSError(f"{relative} not found in {model_name_or_path}")
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import EntryNotFoundError, HFValidationError, LocalEntryNotFoundError

        try:
            file_path = hf_hub_download(
                model_name_or_path, relative, revision=code_revision or revision, token=token,
                cache_dir=cache_folder, local_files_only=local_files_only,
            )
        except (EntryNotFoundError, LocalEntryNotFoundError, HFValidationError) as error:
            raise OSError(str(error)) from error
    unique = f"embedkit_remote_code.{abs(hash(os.path.abspath(file_path)))}.{module_name}"
    spec = importlib.util.spec_from_file_location(unique, file_path)
    if spec is None or spec.loader is None:
        raise OSError(f"cannot import {file_path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    sys.path.insert(0, os.path.dirname(file_path))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(os.path.dirname(file_path))
    if not hasattr(module, class_name):
        raise ValueError(f"{relative} does not define {class_name}")
    return getattr(module, class_name)


def import_module_class(
    class_ref: str,
    model_name_or_path: str | None = None,
    *,
    trust_remote_code: bool = False,
    revision: str | None = None,
    code_revision: str | None = None,
    token: bool | str | None = None,
    cache_folder: str | None = None,
    local_files_only: bool = False,
) -> type:
    """Resolve a module class reference from a model's ``modules.json`` to a class.

    ``sentence_transformers.*`` and ``embedkit.*`` references are imported directly. Any other reference
    given with a ``model_name_or_path`` runs code chosen by the model, so it needs ``trust_remote_code=True``
    (local folders included; any falsy value refuses). A trusted ``module.Class`` reference is first loaded
    from ``module.py`` inside the model folder or Hub repo (``code_revision`` overrides ``revision`` for that
    file), then, when no such file exists, imported as an installed module. Without ``model_name_or_path``
    the reference is simply imported.

    Raises:
        ValueError: For a reference outside embedkit with ``model_name_or_path`` set and no ``trust_remote_code``.

    Example:
        >>> import_module_class("sentence_transformers.models.Pooling").__name__
        'Pooling'
    """
    if class_ref.startswith((_ST_PREFIX, "embedkit.")):
        return import_from_string(class_ref)
    if model_name_or_path is not None:
        if not trust_remote_code:
            location = (os.path.abspath(model_name_or_path) if os.path.isdir(model_name_or_path)
                        else f"https://hf.co/{model_name_or_path}")
            raise ValueError(
                f"The model {model_name_or_path} references the module class {class_ref!r}, which is not part of "
                f"Sentence Transformers. Importing it executes third-party code. You can inspect the repository "
                f"content at {location}.\nPlease pass the argument `trust_remote_code=True` to allow custom code "
                "to be run."
            )
        try:
            return _load_repository_class(class_ref, model_name_or_path, revision, code_revision, token,
                                          cache_folder, local_files_only)
        except (OSError, ValueError):
            pass
    return import_from_string(class_ref)


@contextmanager
def disable_datasets_caching() -> Iterator[None]:
    """Turn off the ``datasets`` library's cache inside the block.

    embedkit never imports ``datasets``: the switch applies when the caller has already imported it (the only case in
    which its cache can be in use), and the block runs unchanged otherwise.

    Example:
        >>> with disable_datasets_caching():
        ...     pass
    """
    datasets = sys.modules.get("datasets")
    if datasets is None or not hasattr(datasets, "is_caching_enabled"):
        yield
        return
    was_enabled = datasets.is_caching_enabled()
    try:
        if was_enabled:
            datasets.disable_caching()
        yield
    finally:
        if was_enabled:
            datasets.enable_caching()


@contextmanager
def disable_logging(highest_level: int = logging.CRITICAL) -> Iterator[None]:
    """Drop every log record at or below ``highest_level`` inside the block.

    Example:
        >>> with disable_logging():
        ...     logging.getLogger("embedkit.doc").critical("not shown")
    """
    previous = logging.root.manager.disable
    logging.disable(highest_level)
    try:
        yield
    finally:
        logging.disable(previous)


def append_to_last_row(csv_path: str | os.PathLike, additional_data: Iterable[Any]) -> bool:
    """Append ``additional_data`` to the last data row of a CSV file.

    Returns ``False`` (file untouched) when the file has no data row below its header.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp(), "r.csv")
        >>> _ = path.write_text("a,b\\n1,2\\n")
        >>> append_to_last_row(path, [3])
        True
        >>> path.read_text().splitlines()[-1]
        '1,2,3'
    """
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        return False
    rows[-1].extend(additional_data)
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return True


def check_teacher_targets(
    teacher_probabilities: Tensor, teacher_logits: Tensor, teacher_temperature: float, loss_name: str
) -> None:
    """Inspect a distillation loss's teacher target (meant to run once, on the first batch).

    Raises on NaN teacher scores; warns when the temperature makes the softmax underflow some teacher
    probabilities to exactly zero (those candidates then carry no gradient). Rows holding ``inf`` scores
    (deliberately excluded candidates) skip the underflow check.

    Raises:
        ValueError: If ``teacher_logits`` contains NaN.

    Example:
        >>> import torch
        >>> logits = torch.tensor([[2.0, 1.0]])
        >>> check_teacher_targets(torch.softmax(logits, -1), logits, 1.0, "MyLoss")
    """
    scores = teacher_logits.detach().float()
    if scores.isnan().any():
        raise ValueError(
            f"{loss_name}: the teacher scores contain NaN, so the loss and every gradient would be NaN after the "
            "first backward. Check the column holding your teacher scores."
        )
    if scores.isinf().any():
        return
    zeros = int((teacher_probabilities == 0).sum())
    if zeros == 0:
        return
    spread = (scores.max(dim=-1).values - scores.min(dim=-1).values).max().item()
    logger.warning(
        f"{loss_name}: teacher_temperature={teacher_temperature} underflows {zeros} of "
        f"{teacher_probabilities.numel()} teacher scores to exactly zero, so those candidates carry no gradient. "
        f"The widest candidate row spans {spread:.1f}, and a float32 softmax underflows once a row's spread "
        f"divided by the temperature exceeds about 100. Raise teacher_temperature above {spread / 100:.3g}."
    )


# Hub names without an organisation that are not prefixed with "sentence-transformers/" etc. when loading.
ORIGINAL_TRANSFORMER_MODELS: list[str] = [
    "albert-base-v1",
    "albert-base-v2",
    "albert-large-v1",
    "albert-large-v2",
    "albert-xlarge-v1",
    "albert-xlarge-v2",
    "albert-xxlarge-v1",
    "albert-xxlarge-v2",
    "bert-base-cased-finetuned-mrpc",
    "bert-base-cased",
    "bert-base-chinese",
    "bert-base-german-cased",
    "bert-base-german-dbmdz-cased",
    "bert-base-german-dbmdz-uncased",
    "bert-base-multilingual-cased",
    "bert-base-multilingual-uncased",
    "bert-base-uncased",
    "bert-large-cased-whole-word-masking-finetuned-squad",
    "bert-large-cased-whole-word-masking",
    "bert-large-cased",
    "bert-large-uncased-whole-word-masking-finetuned-squad",
    "bert-large-uncased-whole-word-masking",
    "bert-large-uncased",
    "camembert-base",
    "ctrl",
    "distilbert-base-cased-distilled-squad",
    "distilbert-base-cased",
    "distilbert-base-german-cased",
    "distilbert-base-multilingual-cased",
    "distilbert-base-uncased-distilled-squad",
    "distilbert-base-uncased-finetuned-sst-2-english",
    "distilbert-base-uncased",
    "distilgpt2",
    "distilroberta-base",
    "gpt2-large",
    "gpt2-medium",
    "gpt2-xl",
    "gpt2",
    "openai-gpt",
    "roberta-base-openai-detector",
    "roberta-base",
    "roberta-large-mnli",
    "roberta-large-openai-detector",
    "roberta-large",
    "t5-11b",
    "t5-3b",
    "t5-base",
    "t5-large",
    "t5-small",
    "transfo-xl-wt103",
    "xlm-clm-ende-1024",
    "xlm-clm-enfr-1024",
    "xlm-mlm-100-1280",
    "xlm-mlm-17-1280",
    "xlm-mlm-en-2048",
    "xlm-mlm-ende-1024",
    "xlm-mlm-enfr-1024",
    "xlm-mlm-enro-1024",
    "xlm-mlm-tlm-xnli15-1024",
    "xlm-mlm-xnli15-1024",
    "xlm-roberta-base",
    "xlm-roberta-large-finetuned-conll02-dutch",
    "xlm-roberta-large-finetuned-conll02-spanish",
    "xlm-roberta-large-finetuned-conll03-english",
    "xlm-roberta-large-finetuned-conll03-german",
    "xlm-roberta-large",
    "xlnet-base-cased",
    "xlnet-large-cased",
]
