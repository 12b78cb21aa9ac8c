"""The house rules a reader relies on: small modules, imports that only run down the pipeline and
never in a circle, a cheap `import tfdistil`."""
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


# The pipeline, bottom to top: a module may import its own subpackage and anything below it,
# never a later stage nor a peer stage of its tuple (the foundations excepted: they are one floor).
# `tfdistil` itself is the API: it calls every stage, as the CLI does.
PIPELINE = (
    ("errors", "files", "progress", "quiet", "config", "metrics", "runfolder"),  # foundations, no stage
    ("data",),
    ("teacher",),
    ("slices",),  # per-slice scores, the teacher's logits beside the student's
    ("transfer",),
    ("students",),
    ("training",),
    ("edge",),
    ("search",),  # the tuner converts and measures its trials: above edge
    ("report", "distil"),
    ("cli",),
    ("", "__main__"),
)
FLOOR = {part: (i, j) for i, parts in enumerate(PIPELINE) for j, part in enumerate(parts)}


def imports(path, names):
    """(line, module) of every tfdistil module `path` imports: top level, inside functions and
    classes, and `importlib.import_module("tfdistil...")` / `__import__("tfdistil...")` calls."""
    found = []
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfdistil"):
            # `from tfdistil.a import b, c`: module tfdistil.a.b if it is one; tfdistil.a for a name in it
            targets = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in names]
            targets += [node.module] if len(targets) < len(node.names) else []
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in
              ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)):
            targets = [str(node.args[0].value)]
        else:
            continue
        found += [(node.lineno, t) for t in targets if t in names]
    return found


def part(module):
    """tfdistil.data.splits -> data; tfdistil -> ''."""
    return module.split(".")[1] if "." in module else ""


def test_every_module_is_on_a_floor_of_the_pipeline():
    assert not {name for name, _ in modules() if part(name) not in FLOOR}, "add it to PIPELINE"


def test_no_import_runs_up_the_pipeline():
    """Lazy imports inside functions count: what a stage needs from a later one belongs lower down."""
    names = dict(modules())
    bad = []
    for name, path in names.items():
        for line, target in imports(path, names):
            (a, i), (b, j) = FLOOR[part(name)], FLOOR[part(target)]
            if b > a or (b == a and i != j and a > 0):
                bad.append(f"{os.path.relpath(path, ROOT)}:{line}: {name} imports {target} "
                           f"({part(target) or 'tfdistil'} is {'above' if b > a else 'beside'} {part(name)})")
    assert not bad, "\n".join(bad)


def test_no_import_cycles_between_modules():
    """Top level and function level alike: a circle is a circle even when one side is lazy."""
    names = dict(modules())
    graph = {name: {m for _, m in imports(path, names)} - {name} for name, path in names.items()}
    state, circles = {}, []

    def visit(n, stack):
        state[n] = "open"
        for m in sorted(graph[n]):
            if state.get(m) == "open":
                path = stack + [n]
                circles.append(" -> ".join(path[path.index(m):] + [m]))
            elif m not in state:
                visit(m, stack + [n])
        state[n] = "done"

    for n in sorted(graph):
        if n not in state:
            visit(n, [])
    assert not circles, "\n".join(circles)


def test_the_rules_see_function_level_imports(tmp_path):
    """The walk finds an import inside a function and a string import, not only the top level."""
    f = tmp_path / "m.py"
    f.write_text("import os\n\ndef g():\n    from tfdistil.cli.common import command\n"
                 "    from tfdistil.transfer import shards, label_rows\n"
                 "    return __import__('tfdistil.edge.convert.export')\n")
    names = {"tfdistil.cli.common": "", "tfdistil.edge.convert.export": "", "tfdistil.transfer": "",
             "tfdistil.transfer.shards": ""}
    assert imports(str(f), names) == [(4, "tfdistil.cli.common"), (5, "tfdistil.transfer.shards"),
                                      (5, "tfdistil.transfer"), (6, "tfdistil.edge.convert.export")]


def test_import_is_cheap_and_lists_the_api():
    code = "import sys, tfdistil; help(tfdistil); print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip().endswith("False False")
    for fn in ("fit", "evaluate", "predict", "convert", "evaluate_tflite", "tune"):
        assert f"{fn}(" in out


def test_pyflakes_clean():
    """No unused imports, undefined names or dead f-strings anywhere in the project's Python."""
    proc = subprocess.run([sys.executable, "-m", "pyflakes", "tfdistil", "tests", "tflite", "experiments"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_readme_is_for_users_and_opens_with_the_two_commands():
    """At most 300 lines; the setup-and-run command and the test command come first."""
    lines = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read().splitlines()
    assert len(lines) <= 300, len(lines)
    commands = [line for line in lines[:20] if line.startswith((".venv/bin/", "python3.11 -m venv"))]
    assert commands[0].startswith("python3.11 -m venv .venv") and commands[1] == ".venv/bin/python -m pytest -q"


# Script paths that committed records still name after the script went into the package or was retired
# (each is explained in scripts/README.md).
RETIRED_SCRIPTS = {"scripts/benchmark.py", "scripts/migrate_attention_div.py"}


def test_scripts_holds_no_code_and_every_study_has_its_readme_and_run_sh():
    """The studies live in experiments/<study>/ (README.md + run.sh); scripts/ only says so."""
    assert sorted(os.listdir(os.path.join(ROOT, "scripts"))) == ["README.md"]
    studies = [d for d in os.listdir(os.path.join(ROOT, "experiments"))
               if os.path.isdir(os.path.join(ROOT, "experiments", d))]
    assert {"firmware", "pi", "fortunes"} <= set(studies)
    for d in studies:
        for name in ("README.md", "run.sh"):
            assert os.path.isfile(os.path.join(ROOT, "experiments", d, name)), f"experiments/{d}/{name}"


def test_every_cited_script_path_exists():
    """A committed text (logs aside: they record what ran then) names only scripts that exist, or a retired one."""
    import re
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    pattern = re.compile(r"(?<![\w/])((?:scripts|experiments/[\w-]+)/[\w./-]+\.(?:py|sh))\b")
    missing = set()
    for f in files:
        if "/logs/" in f or not f.endswith((".md", ".json", ".py", ".sh", ".cc", ".txt", ".toml")):
            continue
        path = os.path.join(ROOT, f)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as fh:
            for cited in pattern.findall(fh.read()):
                if cited not in RETIRED_SCRIPTS and "STUDY" not in cited and not os.path.exists(os.path.join(ROOT, cited)):
                    missing.add(f"{f}: {cited}")
    assert not missing, sorted(missing)


def test_the_longest_first_order_names_only_test_files_that_exist():
    """conftest.LONGEST_FIRST orders the files xdist starts; a renamed file would silently drop out of it."""
    from conftest import LONGEST_FIRST
    missing = [f for f in LONGEST_FIRST if not os.path.isfile(os.path.join(ROOT, "tests", f))]
    assert not missing and len(set(LONGEST_FIRST)) == len(LONGEST_FIRST), missing
