"""``approxhil hil deploy`` against a real OpenSSH server on loopback, onto the digital twin's board.

The test starts its own ``sshd`` (host key and client key made here, a temporary folder as the
board's disk) and deploys the agent with the twin's bitstream and the twin environment's Python;
the agent then runs under sshd as on a board and must answer the host.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from approxhil.hil.deploy import board_package_files, deploy
from approxhil.hil.errors import DeployError
from approxhil.hil.remote import RemoteBackend
from approxhil.multipliers import golden_table
from approxhil_board import auth
from approxhil_board.agent import AgentConfig
from approxhil_board.errors import BitstreamError

pytestmark = [pytest.mark.rtl, pytest.mark.slow]
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An sshd on 127.0.0.1 for the current user; yields an ssh client config naming it ``board``."""
    if not os.path.exists(SSHD) or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH server or client missing (apt-get install openssh-server openssh-client; scripts/install.sh does)")
    home = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / key)], check=True)
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    (home / "authorized_keys").chmod(0o600)
    port = _free_port()
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\nAuthorizedKeysFile {home / 'authorized_keys'}\n"
        f"PidFile {home / 'sshd.pid'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation folder sshd wants when run as root
    with open(home / "sshd.log", "w") as log:
        server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(home / "sshd_config")], stdout=subprocess.DEVNULL, stderr=log)
    user = os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    config = home / "ssh_config"
    config.write_text(
        f"Host board\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {home / 'client_key'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {home / 'known_hosts'}\n  StrictHostKeyChecking accept-new\n  BatchMode yes\n"
    )
    deadline = time.monotonic() + 20
    while subprocess.run(["ssh", "-F", str(config), "board", "true"], capture_output=True).returncode != 0:
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.skip(f"sshd did not start here: {(home / 'sshd.log').read_text()[-500:]}")
        time.sleep(0.1)
    yield config
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=10)


def _stop_agent(board_dir: Path) -> None:
    pid_file = board_dir / "agent.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def test_deploy_puts_the_agent_on_the_board_and_it_answers(sshd: Path, twin_fabric, twin_python: str, tmp_path: Path) -> None:
    board_dir, host_secret, port = tmp_path / "board", tmp_path / "host" / "board.secret", _free_port()
    common = dict(
        bitstream=twin_fabric.bitstream,
        port=port,
        board_dir=str(board_dir),
        python=twin_python,
        start="background",
        ssh_options=["-F", str(sshd)],
        secret_file=host_secret,
        timeout=60,
    )
    try:
        first = deploy("board", **common)
        # where the agent expects its files: agent.json names them relative to its folder
        config = AgentConfig.load(board_dir / "agent.json")
        assert Path(config.bitstream) == board_dir / "overlay" / twin_fabric.bitstream.name
        assert Path(config.bitstream).read_bytes() == twin_fabric.bitstream.read_bytes()
        assert Path(config.bitstream).with_suffix(".hwh").read_text() == twin_fabric.bitstream.with_suffix(".hwh").read_text()
        assert (config.bind, config.port) == ("127.0.0.1", port)  # the address the host reached the board by
        assert auth.read_secret(config.secret_file) == auth.read_secret(host_secret)
        assert (os.stat(config.secret_file).st_mode & 0o777) == 0o600 and (os.stat(host_secret).st_mode & 0o777) == 0o600
        for rel, data in board_package_files():
            assert (board_dir / "lib" / rel).read_bytes() == data
        assert not list((board_dir / "lib").glob("approxhil/*"))  # the board gets the board package only
        unit = (board_dir / "approxhil-agent.service").read_text()
        assert f"ExecStart={board_dir}/run-agent.sh" in unit
        assert first.address == f"127.0.0.1:{port}" and first.core["configs"] == ["0000", "3330", "2222"]
        assert first.provenance["device"] == "twin" and first.provenance["agent_backend"] == "pynq"
        pid = int((board_dir / "agent.pid").read_text())

        # deploying again: same secret, same files, one agent (restarted) that answers
        (board_dir / "lib" / "approxhil_board" / "stale.py").write_text("")
        second = deploy("board", **common)
        assert auth.read_secret(host_secret) == auth.read_secret(config.secret_file)
        assert not (board_dir / "lib" / "approxhil_board" / "stale.py").exists()
        new_pid = int((board_dir / "agent.pid").read_text())
        assert new_pid != pid and not _alive(pid) and _alive(new_pid)
        assert second.core == first.core
        with RemoteBackend(second.address, secret_file=host_secret) as hw:
            a, b = np.array([7, -128, 100]), np.array([-3, 127, 99])
            np.testing.assert_array_equal(hw.products("3330", a, b), golden_table("3330").lookup(a, b))
    finally:
        _stop_agent(board_dir)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_failing_steps_name_their_fix(sshd: Path, twin_fabric, twin_python: str, tmp_path: Path) -> None:
    common = dict(
        bitstream=twin_fabric.bitstream,
        board_dir=str(tmp_path / "board"),
        start="none",
        ssh_options=["-F", str(sshd)],
        secret_file=tmp_path / "s",
    )
    with pytest.raises(DeployError, match="does not run on board") as info:
        deploy("board", python="/nonexistent/python3", **common)
    assert "--python" in str(info.value)
    with pytest.raises(DeployError, match="cannot log in to board with ssh") as info:
        deploy("board", python="python3", **{**common, "ssh_options": ["-F", str(sshd), "-o", f"Port={_free_port()}"]})
    assert "ssh-copy-id" in str(info.value)
    lone = tmp_path / "lone.bit"
    lone.write_bytes(b"x")
    with pytest.raises(BitstreamError, match=r"no hardware handoff lone.hwh"):
        deploy("board", python="python3", **{**common, "bitstream": lone})
    assert not (tmp_path / "s").exists()  # nothing was deployed, so no secret was kept
    # an agent that cannot start: its own log line comes back, on one line
    board_dir = tmp_path / "board"
    try:
        with pytest.raises(
            DeployError, match=r"did not answer at 127.0.0.1:\d+ within 3 s .*its log ends: .*cannot listen on 192.0.2.1"
        ) as info:
            deploy(
                "board", python=twin_python, **{**common, "start": "background", "bind": "192.0.2.1", "port": _free_port(), "timeout": 3}
            )
        assert "\n" not in str(info.value) and "journalctl -u approxhil-agent" in str(info.value)
    finally:
        _stop_agent(board_dir)
    if not os.path.isdir("/run/systemd/system"):  # never install a unit on a machine that runs systemd
        with pytest.raises(DeployError, match="does not run systemd") as info:
            deploy("board", python=twin_python, **{**common, "start": "systemd"})
        assert "--start background" in str(info.value)
