"""The ``approxhil`` console script: one Typer app, one sub-app per pipeline stage.

Every command is a thin wrapper: parse, call the library, print. Library errors print as one
line with their fix and exit with status 2.
"""

from __future__ import annotations

import sys

import typer

from approxhil.cli.demo import demo
from approxhil.cli.experiments import experiments, report
from approxhil.cli.hil import app as hil_app
from approxhil.cli.rtl import app as rtl_app
from approxhil.cli.train import evaluate, fit, retrain
from approxhil.cli.tables import app as tables_app
from approxhil.errors import ApproxHilError

app = typer.Typer(help="Hardware-in-the-loop toolkit for approximate neural-network accelerators.", no_args_is_help=True)
app.add_typer(tables_app, name="tables")
app.add_typer(rtl_app, name="rtl")
app.add_typer(hil_app, name="hil")
app.command("demo")(demo)
for _command in (fit, retrain, evaluate, experiments, report):
    app.command(_command.__name__)(_command)


def main() -> None:
    """Entry point: run the app, turning toolkit errors into one-line messages."""
    try:
        app(standalone_mode=False)
    except ApproxHilError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
