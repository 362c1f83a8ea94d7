"""embedkit's layers import downward only: encoders <- modules <- model types <- losses, evaluators <- trainer <- cli.

Every ``import``/``from ... import`` of an embedkit module, at module level or inside a function, is checked. The
two upward imports that remain are listed with the reason; a new one fails this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "embedkit"
TRAINING = ("trainer", "training_args", "data_collator", "fit_mixin", "callbacks", "datasets", "readers")
FOUNDATION = ("embedkit.tokenizer", "embedkit.tokenizer_vocabulary", "embedkit.chat_template", "embedkit.lazy_exports",
              "embedkit.quantization_int8", "embedkit.distributed", "embedkit.hub", "embedkit.datasets_io",
              "embedkit.data", "embedkit.model_files")
FACADES = ("embedkit", "embedkit.base", "embedkit.sentence_transformer", "embedkit.cross_encoder",
           "embedkit.sparse_encoder")

# (importer, imported): an upward import that is kept on purpose
ALLOWED = {
    # A Router is a module made of modules: loading and saving its sub-modules goes through the model-folder code
    # and the module-type table, imported when a Router is loaded or saved.
    ("embedkit.base.modules.router", "embedkit.module_types"),
    ("embedkit.base.modules.router", "embedkit.model_folder"),
    # sentence-transformers' legacy `model.fit(...)` runs the trainer; imported when fit() is called.
    ("embedkit.sentence_transformer.legacy_api", "embedkit.sentence_transformer.fit_mixin"),
    ("embedkit.cross_encoder.model", "embedkit.cross_encoder.fit_mixin"),
}


def layer(module: str) -> int | None:
    parts = module.split(".")
    if module.startswith("embedkit.cli") or module == "embedkit.__main__":
        return 5
    training = any(p in TRAINING or p.startswith("trainer_") for p in parts)  # trainer_checkpoints, ...
    if training or module in ("embedkit.base.sampler", "embedkit.checkpoint", "embedkit.schedules"):
        return 4
    if "losses" in parts or "evaluation" in parts:
        return 3
    if "modules" in parts or module in ("embedkit.base.modality", "embedkit.base.modality_types",
                                        "embedkit.base.chat_messages"):
        return 1
    if module.startswith(("embedkit.encoders", "embedkit.util")) or module in FOUNDATION:
        return 0
    if module in FACADES:
        return None  # package facades export lazily from every layer
    return 2


def imports_of(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("embedkit") and not node.level:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("embedkit")]
    return found


def test_no_upward_imports():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        own = layer(name)
        if own is None:
            continue
        for imported, line in imports_of(path):
            other = layer(imported)
            if other is not None and other > own and (name, imported) not in ALLOWED:
                upward.append(f"{name}:{line} imports {imported} (layer {own} -> {other})")
    assert upward == []


def test_layer_table_sees_every_kind():
    # the classifier must put a module of each layer where the docstring says (guards the test itself)
    assert [layer(m) for m in ("embedkit.encoders.bert", "embedkit.base.modules.router",
                               "embedkit.sentence_transformer.model", "embedkit.sentence_transformer.losses.cosent",
                               "embedkit.base.trainer", "embedkit.cli.train")] == [0, 1, 2, 3, 4, 5]


def test_no_relative_imports():
    # absolute imports only: the module-path checks above (and readers) see every dependency by its full name
    relative = [f"{p.relative_to(PACKAGE.parent)}:{n.lineno}" for p in PACKAGE.rglob("*.py")
                for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
                if isinstance(n, ast.ImportFrom) and n.level]
    assert relative == []
