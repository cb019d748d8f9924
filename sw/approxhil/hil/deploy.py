"""``approxhil hil deploy``: put the agent, the bitstream and a secret on a board, start it, check it answers.

The board needs nothing installed beyond its PYNQ image (Python 3.10, numpy, pynq): the agent is the
torch-free package :mod:`approxhil_board`, copied as source with the ``.bit``, the ``.hwh``, the agent's
configuration, the deployment's secret and a start script into one folder (``~/approxhil``). It runs
as a systemd unit (``approxhil-agent``, as root: pynq needs it) with the image's pynq-venv Python, or
in the background of the login (``--start background``), or not at all (``--start none``). Transport
is the system's OpenSSH client, so the user's keys, agent, ``~/.ssh/config`` and known hosts apply;
one multiplexed connection serves every step (a password is asked once). Each step that fails says
which and how to fix it; deploying again is idempotent (same secret unless ``new_secret``).
"""

from __future__ import annotations

import getpass
import importlib.resources
import io
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from approxhil_board import auth
from approxhil_board.agent import DEFAULT_PORT, AgentConfig
from approxhil_board.errors import AuthError, BoardUnreachableError
from approxhil_board.hwh import read_hwh
from approxhil_board.pynq_backend import DEFAULT_BOARD, locate_bitstream

from approxhil.hil.boards import default_bitstream, secret_path
from approxhil.hil.errors import DeployError

BOARD_PACKAGE = "approxhil_board"
#: The pynq-venv Python of PYNQ images 3.x.
DEFAULT_PYTHON = "/usr/local/share/pynq-venv/bin/python3"
DEFAULT_DIR = "approxhil"
UNIT = "approxhil-agent"
STARTS = ("systemd", "background", "none")
SSH_FIX = "check that `ssh USER@HOST` logs in (ssh-copy-id USER@HOST sets up a key); pass --ssh-config or --identity if it needs them"
PYTHON_FIX = f"pass --python with the board's Python that has numpy and pynq (PYNQ images: {DEFAULT_PYTHON})"

RUN_SCRIPT = """#!/bin/bash
# Written by `approxhil hil deploy`: starts the approxhil board agent from this folder.
cd "$(dirname "$0")" || exit 1
# the PYNQ image's environment: pynq-venv, XILINX_XRT, BOARD (its login shells source it)
if [ -f /etc/profile.d/pynq_venv.sh ]; then . /etc/profile.d/pynq_venv.sh; fi
export PYTHONPATH="$PWD/lib"
exec {python} -m approxhil_board.agent --config "$PWD/agent.json"
"""

UNIT_FILE = """[Unit]
Description=approxhil board agent: the approxhil accelerator for authenticated hosts
After=network-online.target
Wants=network-online.target

[Service]
ExecStart={run}
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
"""

INSPECT = """
echo "ssh=$SSH_CONNECTION"
echo "uid=$(id -u)"
echo "home=$HOME"
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then echo systemd=1; else echo systemd=0; fi
if [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; then echo sudo=1; else echo sudo=0; fi
{python} -c 'import sys; print("python=%d.%d" % sys.version_info[:2]); import numpy; print("numpy=" + numpy.__version__); import pynq; print("pynq=" + pynq.__version__)' 2>&1 | sed 's/^/py:/'
"""


def board_package_files() -> list[tuple[str, bytes]]:
    """The board package's modules as ``(relative path, content)``: everything of approxhil the board runs."""
    files: list[tuple[str, bytes]] = []

    def walk(node: Any, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir() and child.name != "__pycache__":
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(".py"):
                files.append((f"{prefix}{child.name}", child.read_bytes()))

    walk(importlib.resources.files(BOARD_PACKAGE), f"{BOARD_PACKAGE}/")
    return files


def stage_board_package(dest: Path) -> Path:
    """Copy the board package under ``dest`` (a folder to put on ``PYTHONPATH``) and return ``dest``."""
    shutil.rmtree(dest / BOARD_PACKAGE, ignore_errors=True)
    for rel, data in board_package_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return dest


@dataclass
class Deployment:
    """What a deployment did: where the agent listens, where its files are, what its core reports."""

    address: str
    board_dir: str
    secret_file: Path
    start: str
    core: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


class Ssh:
    """Commands on the board over one multiplexed OpenSSH connection."""

    def __init__(self, target: str, options: Sequence[str], timeout: float = 60.0) -> None:
        if shutil.which("ssh") is None:
            raise DeployError("no ssh client on this machine", fix="install OpenSSH's client (apt-get install openssh-client)")
        self.target = target
        self._tmp = tempfile.mkdtemp(prefix="approxhil-ssh-")
        self.options = [*options, "-o", "ControlMaster=auto", "-o", f"ControlPath={self._tmp}/cm", "-o", "ControlPersist=60"]
        self.timeout = timeout

    def run(self, script: str, stdin: bytes | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
        command = ["ssh", *self.options, self.target, "/bin/sh -c " + shlex.quote(script)]
        try:
            return subprocess.run(command, input=stdin, capture_output=True, timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired:
            raise DeployError(f"ssh {self.target} did not finish within {timeout or self.timeout:.0f} s", fix=SSH_FIX) from None

    def hostname(self) -> str:
        """The address ``target`` resolves to through the ssh configuration (``ssh -G``)."""
        out = subprocess.run(["ssh", "-G", *self.options, self.target], capture_output=True, text=True, timeout=30)
        for line in out.stdout.splitlines():
            key, _, value = line.partition(" ")
            if key == "hostname":
                return value.strip()
        return self.target.rsplit("@", 1)[-1]

    def close(self) -> None:
        subprocess.run(["ssh", *self.options, "-O", "exit", self.target], capture_output=True, timeout=30)
        shutil.rmtree(self._tmp, ignore_errors=True)


def _last(proc: subprocess.CompletedProcess) -> str:
    text = (proc.stderr or proc.stdout or b"").decode(errors="replace").strip().splitlines()
    return text[-1] if text else f"exit status {proc.returncode}"


def _inspect(ssh: Ssh, python: str) -> dict[str, str]:
    proc = ssh.run(INSPECT.format(python=shlex.quote(python)))
    if proc.returncode == 255:
        raise DeployError(f"cannot log in to {ssh.target} with ssh ({_last(proc)})", fix=SSH_FIX)
    facts = dict(
        line.split("=", 1) for line in proc.stdout.decode(errors="replace").splitlines() if "=" in line and not line.startswith("py:")
    )
    py = [line[3:] for line in proc.stdout.decode(errors="replace").splitlines() if line.startswith("py:")]
    facts.update(line.split("=", 1) for line in py if "=" in line and line.split("=", 1)[0] in ("python", "numpy", "pynq"))
    where = f"on {ssh.target}"
    if "python" not in facts:
        raise DeployError(f"{python} does not run {where} ({py[-1] if py else 'no output'})", fix=PYTHON_FIX)
    if tuple(int(x) for x in facts["python"].split(".")) < (3, 10):
        raise DeployError(
            f"{python} {where} is Python {facts['python']}; the agent needs 3.10 or newer (PYNQ images 3.0 and later)", fix=PYTHON_FIX
        )
    if "numpy" not in facts or "pynq" not in facts:
        missing = "numpy" if "numpy" not in facts else "pynq"
        raise DeployError(f"{python} {where} cannot import {missing} ({py[-1] if py else ''})", fix=PYTHON_FIX)
    return facts


def _archive(bit: Path, hwh: Path, config: AgentConfig, secret: bytes, python: str, run_path: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))

        for rel, data in board_package_files():
            add(f"lib/{rel}", data)
        add(f"overlay/{bit.name}", bit.read_bytes())
        add(f"overlay/{hwh.name}", hwh.read_bytes())
        add("agent.json", config.dumps().encode())
        add("agent.secret", (secret.hex() + "\n").encode(), 0o600)
        add("run-agent.sh", RUN_SCRIPT.format(python=shlex.quote(python)).encode(), 0o755)
        add(f"{UNIT}.service", UNIT_FILE.format(run=run_path).encode())
    return buf.getvalue()


def _privileged(facts: dict[str, str], ssh: Ssh, script: str, sudo_password: str | None) -> subprocess.CompletedProcess:
    """Run ``script`` as root: directly, with passwordless sudo, or with sudo and the password on stdin."""
    if facts.get("uid") == "0":
        return ssh.run(script)
    if facts.get("sudo") == "1":
        return ssh.run("sudo -n /bin/sh -c " + shlex.quote(script))
    if sudo_password is None and sys.stdin.isatty():
        sudo_password = getpass.getpass(f"sudo password of {ssh.target}: ")
    if sudo_password is None:
        raise DeployError(
            f"installing the systemd unit on {ssh.target} needs root, and sudo asks for a password",
            fix="give the user passwordless sudo, deploy as root, run deploy from a terminal (it asks), or use --start background",
        )
    return ssh.run("sudo -S -p '' /bin/sh -c " + shlex.quote(script), stdin=(sudo_password + "\n").encode())


def deploy(
    board: str,
    bitstream: str | Path | None = None,
    board_name: str = DEFAULT_BOARD,
    port: int = DEFAULT_PORT,
    bind: str | None = None,
    board_dir: str = DEFAULT_DIR,
    python: str = DEFAULT_PYTHON,
    start: str = "systemd",
    ssh_options: Sequence[str] = (),
    secret_file: str | Path | None = None,
    new_secret: bool = False,
    timeout: float = 120.0,
    sudo_password: str | None = None,
) -> Deployment:
    """Deploy the agent to ``board`` (``[USER@]HOST``) and return what answered; :class:`DeployError` names a failed step."""
    if start not in STARTS:
        raise DeployError(f"unknown start mode {start!r}", fix=f"use one of {', '.join(STARTS)}")
    bit, hwh = locate_bitstream(bitstream or default_bitstream(board_name), board_name)
    read_hwh(hwh)  # a bitstream of another design fails here, before anything is copied
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    ssh = Ssh(board, ssh_options)
    try:
        facts = _inspect(ssh, python)
        seconds["inspect"] = time.perf_counter() - clock
        host = ssh.hostname()
        secret_path_host = Path(secret_file) if secret_file else secret_path(host, port)
        secret = auth.new_secret() if new_secret or not secret_path_host.exists() else auth.read_secret(secret_path_host)
        home = facts.get("home", "")
        absolute = board_dir if board_dir.startswith("/") else f"{home}/{board_dir}"
        listen = bind or (facts.get("ssh", "").split() or ["127.0.0.1"] * 3)[2]
        config = AgentConfig(bitstream=f"overlay/{bit.name}", secret_file="agent.secret", bind=listen, port=port, board=board_name)
        archive = _archive(bit, hwh, config, secret, python, f"{absolute}/run-agent.sh")
        quoted = shlex.quote(absolute)
        proc = ssh.run(
            f"set -e; mkdir -p {quoted}; cd {quoted}; rm -rf lib overlay; umask 077; tar -xf -; chmod 600 agent.secret", stdin=archive
        )
        if proc.returncode:
            raise DeployError(
                f"copying the agent to {board}:{absolute} failed ({_last(proc)})",
                fix=f"check the board's disk space and that {absolute} is writable, or pass --dir",
            )
        auth.write_secret(secret_path_host, secret)
        seconds["copy"] = time.perf_counter() - clock - sum(seconds.values())
        _start(ssh, facts, start, absolute, sudo_password)
        seconds["start"] = time.perf_counter() - clock - sum(seconds.values())
        deployment = Deployment(f"{host}:{port}", absolute, secret_path_host, start)
        if start != "none":
            _check(deployment, ssh, facts, timeout, sudo_password)
        seconds["check"] = time.perf_counter() - clock - sum(seconds.values())
        deployment.seconds = seconds
        return deployment
    finally:
        ssh.close()


def _start(ssh: Ssh, facts: dict[str, str], start: str, absolute: str, sudo_password: str | None) -> None:
    quoted = shlex.quote(absolute)
    stop_background = (
        f'cd {quoted}; if [ -f agent.pid ] && kill -0 "$(cat agent.pid)" 2>/dev/null; then kill "$(cat agent.pid)"; '
        'for i in $(seq 100); do kill -0 "$(cat agent.pid)" 2>/dev/null || break; sleep 0.1; done; fi; rm -f agent.pid'
    )
    if start == "systemd":
        if facts.get("systemd") != "1":
            raise DeployError(f"{ssh.target} does not run systemd", fix="use --start background (the agent then runs as the login user)")
        install = (
            f"set -e; {stop_background}; install -m 644 {quoted}/{UNIT}.service /etc/systemd/system/{UNIT}.service; "
            f"systemctl daemon-reload; systemctl enable {UNIT}.service >/dev/null 2>&1; systemctl restart {UNIT}.service"
        )
        proc = _privileged(facts, ssh, install, sudo_password)
        if proc.returncode:
            raise DeployError(
                f"installing the systemd unit {UNIT} on {ssh.target} failed ({_last(proc)})",
                fix="read the message above; check sudo rights",
            )
    elif start == "background":
        proc = ssh.run(f"{stop_background}; nohup setsid ./run-agent.sh > agent.log 2>&1 < /dev/null & echo $! > agent.pid")
        if proc.returncode:
            raise DeployError(
                f"starting the agent on {ssh.target} failed ({_last(proc)})",
                fix=f"run {absolute}/run-agent.sh on the board and read its output",
            )


def _check(deployment: Deployment, ssh: Ssh, facts: dict[str, str], timeout: float, sudo_password: str | None) -> None:
    """Connect as a host would, until the agent answers or ``timeout`` passes."""
    from approxhil.hil.remote import RemoteBackend

    deadline = time.monotonic() + timeout
    while True:
        try:
            with RemoteBackend(deployment.address, secret_file=deployment.secret_file, timeout=10.0) as backend:
                info = backend.info
                deployment.core = {"version": info.version_text, "lanes": info.lanes, "configs": list(info.configs)}
                deployment.provenance = backend.provenance()
                return
        except BoardUnreachableError as exc:
            error: Exception = exc
        except AuthError as exc:
            error = exc
            deadline = 0  # another agent with another secret answers: waiting will not help
        if time.monotonic() > deadline:
            log = _agent_log(ssh, facts, deployment, sudo_password)
            raise DeployError(
                f"the agent on {ssh.target} did not answer at {deployment.address} within {timeout:.0f} s ({error}); its log ends: {log}",
                fix="read the agent's log (on the board: journalctl -u approxhil-agent, or agent.log in its folder)",
            )
        time.sleep(0.5)


def _agent_log(ssh: Ssh, facts: dict[str, str], deployment: Deployment, sudo_password: str | None) -> str:
    if deployment.start == "systemd":
        proc = _privileged(facts, ssh, f"journalctl -u {UNIT}.service -n 5 --no-pager", sudo_password)
    else:
        proc = ssh.run(f"tail -n 5 {shlex.quote(deployment.board_dir)}/agent.log")
    lines = proc.stdout.decode(errors="replace").strip().splitlines()[-5:]
    return " | ".join(line.strip() for line in lines) or "(empty)"  # one line: the CLI prints errors as one
