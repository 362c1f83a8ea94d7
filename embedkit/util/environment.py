"""Runtime environment checks: device selection, optional packages, installed versions and model requirements."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import platform
import re
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, metadata, version
from typing import Any

import torch

__all__ = [
    "check_model_requirements",
    "check_package_availability",
    "check_version_requirements",
    "get_device_name",
    "get_installed_version",
    "is_accelerate_available",
    "is_datasets_available",
    "is_dist_initialized",
    "is_training_available",
    "suggest_extra_on_exception",
]

logger = logging.getLogger(__name__)

# (keywords found in a dependency error, install hint). "read_video" comes before "torchvision": a missing
# torchcodec makes transformers fall back to torchvision's removed read_video.
_EXTRA_HINTS: list[tuple[tuple[str, ...], str]] = [
    (("pillow", "pil"), 'pip install -U "sentence-transformers[image]"'),
    (("read_video",), 'pip install -U "sentence-transformers[video]"  # or [audio] for audio-only models'),
    (("torchvision",), 'pip install -U "sentence-transformers[image]"'),
    (("torchcodec",), "pip install -U torchcodec"),
    (("soundfile", "librosa"), 'pip install -U "sentence-transformers[audio]"'),
]


@contextlib.contextmanager
def suggest_extra_on_exception() -> Iterator[None]:
    """Re-raise an ``ImportError``/``AttributeError`` about a missing multimodal dependency with an install hint.

    Other exceptions, and import errors naming no known dependency, pass through unchanged.

    Example:
        >>> try:
        ...     with suggest_extra_on_exception():
        ...         raise ImportError("No module named 'PIL'")
        ... except ImportError as error:
        ...     print(str(error).splitlines()[-1])
        pip install -U "sentence-transformers[image]"
    """
    try:
        yield
    except (ImportError, AttributeError) as error:
        text = str(error).lower()
        for keywords, hint in _EXTRA_HINTS:
            if any(keyword in text for keyword in keywords):
                message = f"{str(error).strip()}\n\nTo install the required dependencies, run:\n{hint}"
                raise type(error)(message) from error
        raise


def is_dist_initialized() -> bool:
    """Whether ``torch.distributed`` is available and its process group initialized.

    Availability is checked first: CPU-only and some ROCm builds lack ``is_initialized``.

    Example:
        >>> is_dist_initialized()
        False
    """
    return bool(torch.distributed.is_available() and torch.distributed.is_initialized())


def get_device_name() -> str:
    """The device to run on: ``"cuda:<local rank>"``, ``"mps"``, ``"npu"``, ``"xpu"``, ``"hpu"`` or ``"cpu"``.

    For CUDA the index is ``LOCAL_RANK`` when set, else the distributed rank (when a process group is up
    and enough GPUs exist), else 0.

    Example:
        >>> get_device_name() in ("cpu", "mps") or get_device_name().startswith(("cuda", "npu", "xpu", "hpu"))
        True
    """
    if torch.cuda.is_available():
        if "LOCAL_RANK" in os.environ:
            index = int(os.environ["LOCAL_RANK"])
        elif is_dist_initialized() and torch.cuda.device_count() > torch.distributed.get_rank():
            index = torch.distributed.get_rank()
        else:
            index = 0
        return f"cuda:{index}"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    npu = getattr(torch, "npu", None)
    if npu is not None and importlib.util.find_spec("torch_npu") is not None and npu.is_available():
        return "npu"
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        return "xpu"
    if importlib.util.find_spec("habana_frameworks") is not None:
        import habana_frameworks.torch.hpu as hthpu  # type: ignore[import-not-found]

        if hthpu.is_available():
            return "hpu"
    return "cpu"


def check_package_availability(package_name: str, owner: str) -> bool:
    """Whether distribution ``package_name`` is installed and its home page mentions ``owner``.

    Example:
        >>> check_package_availability("surely-not-an-installed-package", "huggingface")
        False
    """
    try:
        meta = metadata(package_name)
    except PackageNotFoundError:
        return False
    home_page = meta["Home-page"]
    if home_page is None:
        home_page = " ".join(meta.get_all("Project-URL") or [])
    return meta["Name"] == package_name and bool(home_page) and owner in home_page


def is_accelerate_available() -> bool:
    """Whether Hugging Face ``accelerate`` is installed (embedkit does not need it).

    Example:
        >>> isinstance(is_accelerate_available(), bool)
        True
    """
    return check_package_availability("accelerate", "huggingface")


def is_datasets_available() -> bool:
    """Whether Hugging Face ``datasets`` is installed (embedkit reads ``datasets.Dataset`` objects when given).

    Example:
        >>> isinstance(is_datasets_available(), bool)
        True
    """
    return check_package_availability("datasets", "huggingface")


def is_training_available() -> bool:
    """Whether the packages sentence-transformers trains with (``datasets`` and ``accelerate``) are installed.

    embedkit's own trainer needs neither; this mirrors the sentence-transformers check.

    Example:
        >>> isinstance(is_training_available(), bool)
        True
    """
    return is_accelerate_available() and is_datasets_available()


def get_installed_version(package_name: str) -> str | None:
    """Installed version of ``package_name`` (``"python"`` gives the interpreter version), or ``None``.

    An already-imported module's string ``__version__`` wins over the distribution metadata, which lags
    behind editable installs.

    Example:
        >>> get_installed_version("python") == platform.python_version()
        True
        >>> get_installed_version("surely-not-an-installed-package") is None
        True
    """
    if package_name == "python":
        return platform.python_version()
    module_version = getattr(sys.modules.get(package_name.replace("-", "_")), "__version__", None)
    if isinstance(module_version, str):
        return module_version
    try:
        return version(package_name)
    except PackageNotFoundError:
        return None


# --- a PEP 440 subset: versions and specifiers --------------------------------------------------------------

_VERSION = re.compile(
    r"""^\s*v?(?:(?P<epoch>\d+)!)?(?P<release>\d+(?:\.\d+)*)
    (?:[-_.]?(?P<pre_l>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?P<pre_n>\d+)?)?
    (?:-(?P<post_n1>\d+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>\d+)?)?
    (?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>\d+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_PRE_ORDER = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}
_INF = float("inf")


def _version_key(text: str) -> tuple:
    """Sort key of a PEP 440 version (local label ignored); ``ValueError`` when ``text`` is not one."""
    match = _VERSION.match(text)
    if match is None:
        raise ValueError(f"Invalid version: {text!r}")
    release = tuple(int(part) for part in match["release"].split("."))
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    pre = (_PRE_ORDER[match["pre_l"].lower()], int(match["pre_n"] or 0)) if match["pre_l"] else None
    post_n = match["post_n1"] or match["post_n2"]
    post = int(post_n or 0) if (match["post_n1"] or match["post_l"]) else None
    dev = int(match["dev_n"] or 0) if match["dev_l"] else None
    # dev-only releases sort before pre-releases; then pre < final < post; dev sorts before its parent.
    pre_key = pre if pre is not None else ((-1, 0) if dev is not None and post is None else (_INF, 0))
    post_key = post if post is not None else -1
    dev_key = dev if dev is not None else _INF
    return (int(match["epoch"] or 0), release, pre_key, post_key, dev_key)


def _release_parts(text: str) -> list[int]:
    match = _VERSION.match(text)
    if match is None:
        raise ValueError(f"Invalid version: {text!r}")
    return [int(part) for part in match["release"].split(".")]


_SPEC = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)\s*(\S+?)\s*$")


def _spec_matches(operator: str, target: str, installed: str) -> bool:
    installed_public = installed.split("+", 1)[0]
    if operator == "===":
        return installed.strip().lower() == target.strip().lower()
    if operator in ("==", "!=") and target.endswith(".*"):
        prefix = _release_parts(target[:-2])
        _version_key(target[:-2])
        parts = _release_parts(installed_public)
        parts += [0] * max(0, len(prefix) - len(parts))
        equal = parts[: len(prefix)] == prefix
        return equal if operator == "==" else not equal
    key = _version_key(installed_public if "+" not in target else installed)
    other = _version_key(target)
    if operator == "==":
        return key == other
    if operator == "!=":
        return key != other
    if operator == "<=":
        return key <= other
    if operator == ">=":
        return key >= other
    if operator == "<":
        return key < other
    if operator == ">":
        return key > other
    # "~=": at least ``target`` and the same release prefix except for the last component
    parts = _release_parts(target)
    if len(parts) < 2:
        raise ValueError(f"Invalid specifier: '~={target}'")
    return key >= other and _spec_matches("==", ".".join(map(str, parts[:-1])) + ".*", installed)


def _parse_specifiers(specifier: str) -> list[tuple[str, str]]:
    """Split a comma-separated PEP 440 specifier set; ``ValueError`` on anything malformed."""
    clauses = []
    for clause in specifier.split(","):
        if not clause.strip():
            if specifier.strip():
                raise ValueError(f"Invalid specifier: {specifier!r}")
            continue
        match = _SPEC.match(clause)
        if match is None:
            raise ValueError(f"Invalid specifier: {clause.strip()!r}")
        operator, target = match.groups()
        if operator != "===":
            _version_key(target[:-2] if target.endswith(".*") and operator in ("==", "!=") else target)
        clauses.append((operator, target))
    return clauses


def check_version_requirements(requirements: dict[str, Any] | None, source: str | None = None) -> None:
    """Check that installed packages satisfy a model's declared version requirements.

    Args:
        requirements: ``{package: specifier}`` with PEP 440 specifiers (``">=2.0,<3"``), or
            ``{package: {"specifier": ..., "reason": ...}}``. ``"python"`` checks the interpreter and
            ``"pytorch"`` is read as ``torch``. An empty specifier only requires the package to be installed.
        source: Model name or path, named in the messages.

    Unparsable requirements (not a dict, not a specifier string, a malformed specifier or installed
    version) are logged as warnings and skipped, so a config typo never makes a model unloadable.
    Pre-releases count as satisfying, and local version labels (``+cu126``) are ignored.

    Raises:
        ImportError: Listing every unmet requirement and a ``pip install -U`` line for the packages.

    Example:
        >>> check_version_requirements({"python": ">=3.0"}, source="my-model")
        >>> try:
        ...     check_version_requirements({"python": ">=99"})
        ... except ImportError as error:
        ...     print(str(error).splitlines()[0])
        This model requires:
    """
    if not requirements:
        return
    if not isinstance(requirements, dict):
        logger.warning(f"Ignoring the `requirements` of {source!r}: expected a dictionary of version specifiers.")
        return
    unmet: list[str] = []
    to_install: list[str] = []
    for package, requirement in requirements.items():
        package = {"pytorch": "torch"}.get(package, package)
        if isinstance(requirement, dict):
            specifier, reason = requirement.get("specifier", ""), requirement.get("reason", "")
        else:
            specifier, reason = requirement, ""
        if not isinstance(specifier, str):
            logger.warning(
                f"Could not verify the {specifier!r} requirement of {source!r}: expected a version specifier string."
            )
            continue
        installed = get_installed_version(package)
        try:
            clauses = _parse_specifiers(specifier)
            if installed is not None:
                _version_key(installed.split("+", 1)[0])
                if all(_spec_matches(op, target, installed) for op, target in clauses):
                    continue
        except ValueError as error:
            logger.warning(f"Could not verify the {specifier!r} requirement of {source!r}: {error}")
            continue
        found = f"{package}=={installed} is installed" if installed else "it is not installed"
        unmet.append(f"- {package}{specifier}, but {found}. {reason}".rstrip())
        if package != "python":
            to_install.append(f'"{package}{specifier}"')
    if unmet:
        lines = [f"The model {source!r} requires:" if source else "This model requires:", *unmet]
        if to_install:
            lines.append(f"Install compatible versions with:\n    pip install -U {' '.join(to_install)}")
        raise ImportError("\n".join(lines))


#: The packages embedkit runs a model with; a model's requirements on these are checked, others are ignored.
RUNTIME_PACKAGES = ("python", "torch", "pytorch", "tokenizers", "safetensors", "numpy", "huggingface_hub",
                    "huggingface-hub")


def check_model_requirements(requirements: dict[str, Any] | None, source: str | None = None) -> None:
    """Check the ``requirements`` of a model's ``config_sentence_transformers.json`` that embedkit can honour.

    sentence-transformers refuses to load a model whose requirements are unmet. embedkit does the same for the
    packages it runs the model with (python, torch, tokenizers, safetensors, numpy, huggingface_hub); requirements
    on other packages (``transformers``, ``sentence-transformers``, ...) describe an environment embedkit does not
    use, so they are logged and not checked.

    Raises:
        ImportError: an unmet requirement on a runtime package (see :func:`check_version_requirements`).

    Example:
        >>> check_model_requirements({"torch": ">=1.0", "transformers": ">=999"}, source="my-model")
        >>> try:
        ...     check_model_requirements({"torch": ">=999"}, source="my-model")
        ... except ImportError as error:
        ...     print(str(error).splitlines()[1])
        - torch>=999, but torch==... is installed.
    """
    if not isinstance(requirements, dict):
        check_version_requirements(requirements, source)  # None passes; other types are warned about there
        return
    runtime = {name: spec for name, spec in requirements.items() if str(name).lower() in RUNTIME_PACKAGES}
    skipped = sorted(set(requirements) - set(runtime))
    if skipped:
        logger.info(f"Not checking the requirements of {source!r} on {skipped}: embedkit does not use these packages.")
    check_version_requirements(runtime, source)
