"""`python -m tfdistil ...` is the `tfdistil` command."""
from tfdistil.cli import main

main(prog_name="tfdistil")
