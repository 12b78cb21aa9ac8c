"""Import a study's script from experiments/ in a test (studies share names like summarize.py)."""
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def study_module(study, name):
    """experiments/STUDY/NAME.py imported under a name of its own, once per session."""
    key = f"experiments_{study}_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, os.path.join(ROOT, "experiments", study, f"{name}.py"))
        sys.modules[key] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[key]
