"""`python -m tfdistil ...` is the `tfdistil` command."""
from .cli import main

main(prog_name="tfdistil")
