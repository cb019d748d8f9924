"""The ``approxhil`` console script: one Typer app, one sub-app per pipeline stage.

Every command is a thin wrapper: parse, call :mod:`approxhil.api`, print. Errors a user can cause
(bad arguments, bad files, missing tools) print the usage line where it helps and one ``error:`` line
with the fix, and exit with status 2; an unexpected error prints one line naming the file that holds
its traceback and exits with status 1.
"""

from __future__ import annotations

import datetime as _dt
import sys
import traceback
from collections.abc import Sequence

import typer

from approxhil.cli.demo import demo
from approxhil.cli.experiments import experiments, report
from approxhil.cli.hil import app as hil_app
from approxhil.cli.rtl import app as rtl_app
from approxhil.cli.tables import app as tables_app
from approxhil.cli.train import evaluate, fit, retrain
from approxhil.errors import ApproxHilError

app = typer.Typer(
    help="Hardware-in-the-loop toolkit for approximate neural-network accelerators.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(tables_app, name="tables")
app.add_typer(rtl_app, name="rtl")
app.add_typer(hil_app, name="hil")
for _command in (demo, fit, retrain, evaluate, experiments, report):
    app.command(_command.__name__)(_command)


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Click's usage errors: Typer's own copy of Click (Typer ≥ 0.26) and Click itself (older Typer)."""
    kinds: list[type[BaseException]] = []
    try:
        from typer._click.exceptions import UsageError as TyperUsageError

        kinds.append(TyperUsageError)
    except ImportError:
        pass
    import click

    kinds.append(click.UsageError)
    return tuple(kinds)


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    sys.exit(code)


def _crash_log(exc: BaseException) -> str:
    """Write the traceback of an unexpected error to the cache folder; return the file's path."""
    from approxhil.cache import cache_dir

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = cache_dir("logs") / f"crash-{stamp}.log"
    path.write_text("approxhil " + " ".join(sys.argv[1:]) + "\n\n" + "".join(traceback.format_exception(exc)))
    return str(path)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the app; every error ends as one line and an exit status (2: the user's to fix)."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="approxhil", standalone_mode=False)
    except ApproxHilError as exc:
        _fail(str(exc), 2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    except KeyboardInterrupt:
        _fail("interrupted (finished steps and checkpoints are kept; rerun to resume)", 130)
    except _usage_errors() as exc:
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            typer.echo(ctx.get_usage(), err=True)
        path = ctx.command_path if ctx is not None else "approxhil"
        message = "a command is missing" if type(exc).__name__ == "NoArgsIsHelpError" else exc.format_message()
        _fail(f"{message} (fix: see `{path} --help`)", 2)
    except Exception as exc:  # a defect, not a user mistake: keep the traceback, print one line
        _fail(f"unexpected {type(exc).__name__}: {exc} (full traceback in {_crash_log(exc)}; please report it)", 1)
