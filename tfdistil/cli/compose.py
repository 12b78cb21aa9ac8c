"""`tfdistil compose`: contrast, concession and negation sentences for the transfer set.

Its own module so `cli/transfer.py` stays as it is; `cli/__init__.py` registers it.
"""
import click

from tfdistil.cli.common import command, data_options


@click.command("compose")
@data_options("GLUE folder (only train is read), or --train FILE.")
@click.option("--out", required=True, help="One-column TSV to write (`sentence` header); OUT.json gets the settings.")
@click.option("--augmented", multiple=True,
              help="Also compose from this augmented file (from `tfdistil augment`); repeatable.")
@click.option("--factor", default=1, show_default=True, help="Rounds per input sentence (each: every construction once).")
@click.option("--seed", default=0, show_default=True)
@click.option("--constructions", default="contrast,concessive,negation", show_default=True,
              help="Comma-separated subset of contrast, concessive, negation.")
@click.option("--max-words", default=20, show_default=True, help="Longest input phrase used as a clause.")
@click.option("--limit", type=int, default=None, help="Only the first N training rows.")
@click.option("--max-rows", type=int, default=None, help="Stop after N sentences.")
@command
def compose(data, out, augmented, factor, seed, constructions, max_words, limit, max_rows):
    """Unlabelled 'X , but Y' / 'although X , Y' / 'is n't' sentences from train, for the teacher to label."""
    from tfdistil.transfer.compose import write_composed
    kinds = tuple(c.strip() for c in constructions.split(",") if c.strip())
    return write_composed(data, out, factor=factor, seed=seed, augmented=augmented, limit=limit, max_rows=max_rows,
                          constructions=kinds, max_words=max_words, log=lambda m: click.echo(m, err=True))
