"""The studies and scripts import the package's names lazily, inside functions, where neither pyflakes
nor a `--help` run reaches them: a refactor that moves a name breaks them hours into a run
(`experiments/fortunes/levers.py` imported `_c_vocab_bytes` from `tfdistil.distil.steps` long after it
had gone, and crashed after training). Every `from tfdistil... import NAME` in experiments/ and scripts/
must name something that module has, or one of its submodules."""
import ast
import importlib
import pathlib

from conftest import ROOT


def _package_imports():
    root = pathlib.Path(ROOT)
    for folder in ("experiments", "scripts"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "tfdistil":
                    for alias in node.names:
                        yield path.relative_to(root), node.lineno, node.module, alias.name


def _has(module, name):
    if name == "*" or hasattr(importlib.import_module(module), name):
        return True
    try:
        importlib.import_module(f"{module}.{name}")
        return True
    except ImportError:
        return False


def test_every_package_name_the_studies_import_exists():
    found = list(_package_imports())
    assert len(found) > 50  # the walk reached the studies
    missing = [f"{path}:{line}: from {module} import {name}" for path, line, module, name in found if not _has(module, name)]
    assert not missing, "\n".join(missing)
