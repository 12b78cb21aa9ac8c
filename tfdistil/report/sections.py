"""Sections other scripts measure (the fortunes task, the paper's sizes), kept in REPORT.md.

A script writes OUT/sections/NAME.md (with its own command line) and splices it into the
current REPORT.md between markers; `tfdistil report` appends every OUT/sections/*.md when it
renders, so a re-rendered report keeps them.
"""
import glob
import os
import re

from tfdistil.files import atomic_write_text


def splice(report, name, body):
    """REPORT.md text with section `name` replaced by `body`, or appended if it is not there."""
    block = f"<!-- section: {name} -->\n{body.strip()}\n<!-- /section: {name} -->"
    pattern = re.compile(rf"<!-- section: {re.escape(name)} -->.*?<!-- /section: {re.escape(name)} -->", re.S)
    if pattern.search(report):
        return pattern.sub(lambda _: block, report)
    return report.rstrip("\n") + "\n\n" + block + "\n"


def append_sections(report, out):
    for path in sorted(glob.glob(os.path.join(out, "sections", "*.md"))):
        with open(path, encoding="utf-8") as f:
            report = splice(report, os.path.splitext(os.path.basename(path))[0], f.read())
    return report


def write_section(out, name, body):
    """Save OUT/sections/NAME.md and splice it into OUT/REPORT.md (if there is one)."""
    os.makedirs(os.path.join(out, "sections"), exist_ok=True)
    atomic_write_text(os.path.join(out, "sections", f"{name}.md"), body.strip() + "\n")
    report = os.path.join(out, "REPORT.md")
    if os.path.isfile(report):
        with open(report, encoding="utf-8") as f:
            atomic_write_text(report, splice(f.read(), name, body))
