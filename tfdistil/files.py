"""Files that are either whole or absent: write to a temp name, fsync, rename."""
import json
import os


def atomic_write_text(path, text):
    """Write to a temp name in the same folder, then rename: readers never see half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
