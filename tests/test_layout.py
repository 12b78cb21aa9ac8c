"""The house rules a reader relies on: small modules, no import cycles, a cheap `import tfdistil`."""
import ast
import os
import subprocess
import sys

from conftest import ROOT

PKG = os.path.join(ROOT, "tfdistil")


def modules():
    for d, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(d, f)
                name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                yield (name[: -len(".__init__")] if name.endswith(".__init__") else name), path


def test_no_module_over_400_lines():
    long = {name: n for name, path in modules() if (n := sum(1 for _ in open(path))) > 400}
    assert not long, long


def test_no_import_cycles_between_modules():
    """Top-level imports only (function-level imports are lazy by design)."""
    graph = {}
    names = dict(modules())
    for name, path in names.items():
        deps = set()
        for node in ast.parse(open(path).read()).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfdistil"):
                deps.add(node.module if node.module in names else node.module.rsplit(".", 1)[0])
                deps |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in names}
        graph[name] = deps & set(names) - {name}
    state = {}

    def visit(n, stack):
        state[n] = "open"
        for m in graph[n]:
            assert state.get(m) != "open", " -> ".join(stack + [n, m])
            if m not in state:
                visit(m, stack + [n])
        state[n] = "done"

    for n in graph:
        if n not in state:
            visit(n, [])


def test_import_is_cheap_and_lists_the_api():
    code = "import sys, tfdistil; help(tfdistil); print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip().endswith("False False")
    for fn in ("fit", "evaluate", "predict", "convert", "evaluate_tflite", "tune"):
        assert f"{fn}(" in out


def test_pyflakes_clean():
    """No unused imports, undefined names or dead f-strings anywhere in the project's Python."""
    proc = subprocess.run([sys.executable, "-m", "pyflakes", "tfdistil", "tests", "scripts", "tflite", "experiments"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_readme_is_for_users_and_opens_with_the_two_commands():
    """At most 300 lines; the setup-and-run command and the test command come first."""
    lines = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read().splitlines()
    assert len(lines) <= 300, len(lines)
    commands = [line for line in lines[:20] if line.startswith((".venv/bin/", "python3.11 -m venv"))]
    assert commands[0].startswith("python3.11 -m venv .venv") and commands[1] == ".venv/bin/python -m pytest -q"
