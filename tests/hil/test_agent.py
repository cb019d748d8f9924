"""The agent and its link on loopback, with the software model of the core: authentication, the
protocol's limits, and bad input of every kind. Each gets a named error, and the agent keeps serving."""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from approxhil.hil import measure_table
from approxhil.hil.remote import RemoteBackend
from approxhil.multipliers import golden_table
from approxhil_board import auth, wire
from approxhil_board.agent import Agent, Limits
from approxhil_board.client import AgentClient, parse_address
from approxhil_board.errors import (
    AgentBusyError,
    AuthError,
    BoardUnreachableError,
    FrameError,
    HilError,
    HilProtocolError,
    VersionMismatchError,
)
from approxhil_board.memcore import MemoryCore

CONFIGS = ("0000", "3330", "2222")
LIMITS = Limits(max_body=1 << 20, max_pairs=1 << 16, handshake_timeout=1.0, idle_timeout=30.0, stall_timeout=0.5)


@functools.cache
def _table(config: str) -> np.ndarray:
    ops = np.arange(-128, 128)
    return golden_table(config).lookup(ops[:, None], ops[None, :]).astype(np.int32)


class SlowCore(MemoryCore):
    """The model core, a little slow per job, counting jobs and recoveries (to catch a job mid-way)."""

    def __init__(self) -> None:
        super().__init__({c: _table(c) for c in CONFIGS})
        self.max_transfer_bytes = 1 << 10
        self.delay = 0.0
        self.executed = 0
        self.recovered = 0

    def execute(self, job):
        if job.streams:
            time.sleep(self.delay)
            self.executed += 1
        return super().execute(job)

    def recover(self) -> None:
        self.recovered += 1


@pytest.fixture
def agent() -> Iterator[Agent]:
    server = Agent(SlowCore(), auth.new_secret(), port=0, limits=LIMITS)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown(wait=2.0)
    thread.join(timeout=5)


def _secret(agent: Agent) -> bytes:
    return agent._secret


def _secret_file(tmp_path: Path, agent: Agent) -> Path:
    return auth.write_secret(tmp_path / "board.secret", _secret(agent))


def _address(agent: Agent) -> str:
    host, port = agent.address
    return f"{host}:{port}"


def _raw(agent: Agent, secret: bytes | None = None, protocol: int = wire.PROTOCOL_VERSION) -> tuple[socket.socket, wire.Frame]:
    """A hand-made handshake: the socket and the agent's answer to our auth frame."""
    sock = socket.create_connection(agent.address, timeout=5)
    challenge = wire.recv_frame(sock, max_body=0, idle_timeout=5)
    host_nonce = auth.new_nonce()
    proof = auth.host_proof(secret or _secret(agent), protocol, bytes.fromhex(challenge.fields["nonce"]), host_nonce)
    wire.send_frame(sock, "auth", {"protocol": protocol, "nonce": host_nonce.hex(), "proof": proof.hex()})
    return sock, wire.recv_frame(sock, max_body=0, idle_timeout=5)


def _serving(agent: Agent) -> None:
    """The agent still answers a proper host correctly."""
    client = AgentClient.connect(*agent.address, _secret(agent))
    a = np.arange(-128, 128, dtype=np.int8)
    out = client.request("products", {"config": "3330"}, {"a": a, "b": a[::-1].copy()}).arrays["out"]
    np.testing.assert_array_equal(out, golden_table("3330").lookup(a, a[::-1]))
    client.close()


# --------------------------------------------------------------------------- the remote backend
def test_remote_backend_measures_tables_and_dot_products(agent: Agent, tmp_path: Path) -> None:
    with RemoteBackend(_address(agent), secret_file=_secret_file(tmp_path, agent)) as hw:
        assert hw.info.configs == CONFIGS and hw.info.lanes == 4
        table = measure_table(hw, "2222")
        assert table.sha256 == golden_table("2222").sha256
        assert table.provenance["backend"] == "remote" and table.provenance["source"] == "model"
        assert hw.stats.jobs >= 65536 * 2 // (1 << 10) and hw.stats.pairs == 65536  # split by the agent's limit and the core's
        rng = np.random.default_rng(1)
        a, b = (rng.integers(-128, 128, (300, 301)) for _ in range(2))  # 90,300 pairs: two requests
        np.testing.assert_array_equal(hw.dot("3330", a, b), golden_table("3330").lookup(a, b).sum(axis=1))


def test_expected_core_and_bitstream_are_checked_by_name(agent: Agent, tmp_path: Path) -> None:
    secret = _secret_file(tmp_path, agent)
    with pytest.raises(VersionMismatchError, match=r"holds configs 0000 3330 2222, not 1110"):
        RemoteBackend(_address(agent), secret_file=secret, expect_configs=["3330", "1110"])
    with pytest.raises(VersionMismatchError, match="core has 4 lanes, not 8"):
        RemoteBackend(_address(agent), secret_file=secret, expect_lanes=8)
    bit = tmp_path / "other.bit"
    bit.write_bytes(b"another design")
    with pytest.raises(VersionMismatchError, match=r"runs bitstream .*not other.bit") as info:
        RemoteBackend(_address(agent), secret_file=secret, expect_bitstream=bit)
    assert "approxhil hil deploy" in str(info.value)


def test_board_address_forms() -> None:
    assert parse_address("pynq") == ("pynq", 7968)
    assert parse_address("xilinx@192.168.2.99:9000") == ("192.168.2.99", 9000)
    assert parse_address("[::1]:7000") == ("::1", 7000)
    with pytest.raises(BoardUnreachableError, match="bad port"):
        parse_address("pynq:http")


def test_unreachable_board_is_named(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once we leave: nothing listens there
    secret = auth.write_secret(tmp_path / "s", auth.new_secret())
    with pytest.raises(BoardUnreachableError, match=rf"cannot reach the agent at 127.0.0.1:{port}") as info:
        RemoteBackend(f"127.0.0.1:{port}", secret_file=secret)
    assert "approxhil hil deploy" in str(info.value)


# --------------------------------------------------------------------------- authentication
def test_wrong_secret_is_refused_and_the_agent_keeps_serving(agent: Agent, tmp_path: Path) -> None:
    wrong = auth.write_secret(tmp_path / "wrong.secret", auth.new_secret())
    with pytest.raises(AuthError, match="does not match this board's secret") as info:
        RemoteBackend(_address(agent), secret_file=wrong)
    assert "--secret-file" in str(info.value)
    _serving(agent)


def test_missing_or_unsafe_secret_files(agent: Agent, tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="no secret for the board"):
        RemoteBackend(_address(agent), secret_file=tmp_path / "none.secret")
    loose = _secret_file(tmp_path, agent)
    loose.chmod(0o644)
    with pytest.raises(AuthError, match="readable by other users"):
        RemoteBackend(_address(agent), secret_file=loose)


def test_a_host_that_never_proves_anything_is_dropped(agent: Agent) -> None:
    sock = socket.create_connection(agent.address, timeout=5)
    assert wire.recv_frame(sock, max_body=0, idle_timeout=5).kind == "challenge"
    answer = wire.recv_frame(sock, max_body=0, idle_timeout=5)  # we send nothing: handshake time-out
    assert answer.kind == "error" and "handshake failed" in answer.fields["message"]
    sock.close()
    _serving(agent)


def test_missing_proof_and_replayed_proof_are_refused(agent: Agent) -> None:
    sock = socket.create_connection(agent.address, timeout=5)
    wire.recv_frame(sock, max_body=0, idle_timeout=5)
    wire.send_frame(sock, "auth", {"protocol": wire.PROTOCOL_VERSION, "nonce": auth.new_nonce().hex()})
    assert wire.recv_frame(sock, max_body=0, idle_timeout=5).fields["type"] == "AuthError"
    sock.close()
    # a proof recorded on one connection does not open another (the agent's nonce differs)
    first = socket.create_connection(agent.address, timeout=5)
    challenge = wire.recv_frame(first, max_body=0, idle_timeout=5)
    host_nonce = auth.new_nonce()
    proof = auth.host_proof(_secret(agent), wire.PROTOCOL_VERSION, bytes.fromhex(challenge.fields["nonce"]), host_nonce)
    recorded = {"protocol": wire.PROTOCOL_VERSION, "nonce": host_nonce.hex(), "proof": proof.hex()}
    wire.send_frame(first, "auth", recorded)
    assert wire.recv_frame(first, max_body=0, idle_timeout=5).kind == "welcome"
    replay = socket.create_connection(agent.address, timeout=5)
    wire.recv_frame(replay, max_body=0, idle_timeout=5)
    wire.send_frame(replay, "auth", recorded)
    answer = wire.recv_frame(replay, max_body=0, idle_timeout=5)
    assert answer.kind == "error" and answer.fields["type"] == "AuthError"
    first.close()
    replay.close()
    _serving(agent)


def test_the_agent_must_prove_the_secret_too(tmp_path: Path) -> None:
    """A fake agent that answers the handshake without the secret is not trusted."""
    server = socket.create_server(("127.0.0.1", 0))

    def impostor() -> None:
        conn, _ = server.accept()
        wire.send_frame(conn, "challenge", {"protocol": wire.PROTOCOL_VERSION, "nonce": auth.new_nonce().hex()})
        wire.recv_frame(conn, max_body=0, idle_timeout=5)
        wire.send_frame(conn, "welcome", {"proof": "00" * 32, "core": {}, "limits": {}})
        conn.close()

    threading.Thread(target=impostor, daemon=True).start()
    with pytest.raises(AuthError, match="did not prove that it holds this board's secret"):
        AgentClient.connect("127.0.0.1", server.getsockname()[1], auth.new_secret())
    server.close()


# --------------------------------------------------------------------------- versions
def test_protocol_version_mismatch_is_refused_by_name_both_ways(agent: Agent) -> None:
    sock, answer = _raw(agent, protocol=wire.PROTOCOL_VERSION + 1)
    assert answer.fields["type"] == "VersionMismatchError" and f"protocol version {wire.PROTOCOL_VERSION}" in answer.fields["message"]
    sock.close()
    server = socket.create_server(("127.0.0.1", 0))

    def old_agent() -> None:
        conn, _ = server.accept()
        wire.send_frame(conn, "challenge", {"protocol": 0, "nonce": auth.new_nonce().hex(), "agent": "0.0.1"})
        time.sleep(0.5)
        conn.close()

    threading.Thread(target=old_agent, daemon=True).start()
    with pytest.raises(
        VersionMismatchError, match=rf"speaks protocol version 0 \(agent 0.0.1\), this host version {wire.PROTOCOL_VERSION}"
    ) as info:
        AgentClient.connect("127.0.0.1", server.getsockname()[1], auth.new_secret())
    assert "approxhil hil deploy" in str(info.value)
    server.close()
    _serving(agent)


# --------------------------------------------------------------------------- frames
def _authenticated(agent: Agent) -> socket.socket:
    sock, answer = _raw(agent)
    assert answer.kind == "welcome"
    return sock


def test_frame_over_the_limit_is_refused_before_it_is_read(agent: Agent) -> None:
    sock = _authenticated(agent)
    sock.sendall(wire.PREFIX.pack(wire.MAGIC, 2, 1 << 30) + b"{}")
    answer = wire.recv_frame(sock, max_body=0, idle_timeout=5)
    assert answer.fields["type"] == "FrameError" and f"exceeds the limit of {LIMITS.max_body} bytes" in answer.fields["message"]
    sock.close()
    _serving(agent)


def test_truncated_and_stalled_frames(agent: Agent) -> None:
    a = np.zeros(1000, np.int8)
    frame = b"".join(bytes(p) for p in wire.encode("products", {"config": "3330"}, {"a": a, "b": a}))
    sock = _authenticated(agent)
    sock.sendall(frame[: len(frame) // 2])
    sock.shutdown(socket.SHUT_WR)  # the host is done sending, half a frame short
    answer = wire.recv_frame(sock, max_body=0, idle_timeout=5)
    assert "truncated frame" in answer.fields["message"]
    sock.close()
    sock = _authenticated(agent)
    sock.sendall(frame[:100])  # and then nothing, past the stall time-out
    answer = wire.recv_frame(sock, max_body=0, idle_timeout=5)
    assert "stalled" in answer.fields["message"]
    sock.close()
    _serving(agent)


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\nHost: board\r\n\r\n",
        wire.PREFIX.pack(wire.MAGIC, 5, 0) + b"{nope",
        wire.PREFIX.pack(wire.MAGIC, 2, 0) + b"[]",
        wire.PREFIX.pack(wire.MAGIC, 1 << 20, 0),
    ],
    ids=["http", "not-json", "not-an-object", "huge-header"],
)
def test_garbage_gets_an_error_and_a_closed_connection(agent: Agent, raw: bytes) -> None:
    sock = _authenticated(agent)
    sock.sendall(raw)
    answer = wire.recv_frame(sock, max_body=0, idle_timeout=5)
    assert answer.kind == "error" and answer.fields["type"] == "FrameError"
    with pytest.raises(wire.PeerClosed):
        wire.recv_frame(sock, max_body=0, idle_timeout=5)
    sock.close()
    _serving(agent)


def _header_frame(header: dict, body: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return wire.PREFIX.pack(wire.MAGIC, len(text), len(body)) + text + body


@pytest.mark.parametrize(
    "header, body, message",
    [
        (
            {"kind": "products", "fields": {"config": "3330"}, "arrays": [["a", "<f8", [2], 0], ["b", "<f8", [2], 16]]},
            bytes(32),
            "malformed array entry",
        ),
        ({"kind": "products", "fields": {"config": "3330"}, "arrays": [["a", "|i1", [100], 0]]}, bytes(8), "does not fit the frame body"),
        ({"kind": "products", "fields": {"config": "3330"}, "arrays": [["a", "|i1", [-1], 0]]}, b"", "malformed array entry"),
        ({"kind": "products", "fields": {}, "arrays": []}, bytes(16), "no array describes"),
    ],
    ids=["float-dtype", "short-body", "negative-shape", "stray-bytes"],
)
def test_frames_that_do_not_describe_themselves_are_refused(agent: Agent, header: dict, body: bytes, message: str) -> None:
    sock = _authenticated(agent)
    sock.sendall(_header_frame(header, body))
    answer = wire.recv_frame(sock, max_body=0, idle_timeout=5)
    assert answer.fields["type"] == "FrameError" and message in answer.fields["message"]
    sock.close()
    _serving(agent)


@pytest.mark.parametrize(
    "kind, fields, arrays, error, message",
    [
        ("reboot", {}, {}, "HilProtocolError", "unknown request 'reboot'"),
        ("products", {}, {"a": np.zeros(4, np.int8), "b": np.zeros(4, np.int8)}, "HilProtocolError", "without a config name"),
        ("products", {"config": "3330"}, {"a": np.zeros(4, np.int8)}, "HilProtocolError", "needs arrays a and b"),
        ("products", {"config": "3330"}, {"a": np.zeros(4, np.int8), "b": np.zeros(5, np.int8)}, "HilProtocolError", "of one shape"),
        ("dot", {"config": "3330"}, {"a": np.zeros(4, np.int8), "b": np.zeros(4, np.int8)}, "HilProtocolError", "2-D arrays"),
        (
            "products",
            {"config": "3330"},
            {"a": np.zeros(1 << 17, np.int8), "b": np.zeros(1 << 17, np.int8)},
            "HilProtocolError",
            "65536 per request",
        ),
        (
            "products",
            {"config": "1110"},
            {"a": np.zeros(4, np.int8), "b": np.zeros(4, np.int8)},
            "HilError",
            "multiplier 1110 is not in this core (it holds 0000, 3330, 2222)",
        ),
        ("products", {"config": "33"}, {"a": np.zeros(4, np.int8), "b": np.zeros(4, np.int8)}, "HilError", "'33' is not one"),
        (
            "products",
            {"config": "3330"},
            {"a": np.array([300, 0], np.int16), "b": np.array([1, -129], np.int16)},
            "HilError",
            "operands outside -128..127",
        ),
        (
            "dot",
            {"config": "3330"},
            {"a": np.zeros((2, 0), np.int8), "b": np.zeros((2, 0), np.int8)},
            "HilError",
            "at least one pair per vector",
        ),
    ],
    ids=[
        "unknown-kind",
        "no-config",
        "missing-array",
        "shapes-differ",
        "dot-1d",
        "too-large",
        "unknown-config",
        "bad-config",
        "out-of-range",
        "empty-vectors",
    ],
)
def test_bad_requests_get_named_errors_on_an_open_connection(
    agent: Agent, kind: str, fields: dict, arrays: dict, error: str, message: str
) -> None:
    client = AgentClient.connect(*agent.address, _secret(agent))
    with pytest.raises(HilError) as info:
        client.request(kind, fields, arrays)
    assert type(info.value).__name__ == error and message in str(info.value)
    if error != "FrameError":  # the same connection goes on serving
        a = np.array([3, -4], np.int8)
        out = client.request("products", {"config": "0000"}, {"a": a, "b": a}).arrays["out"]
        assert out.tolist() == [9, 16]
    client.close()
    _serving(agent)


def test_idle_connections_are_closed(agent: Agent) -> None:
    agent.limits = Limits(**{**LIMITS.__dict__, "idle_timeout": 0.3})
    sock = _authenticated(agent)
    answer = wire.recv_frame(sock, max_body=0, idle_timeout=5)
    assert answer.kind == "error" and "no request for 0 s" in answer.fields["message"]
    sock.close()


# --------------------------------------------------------------------------- jobs
def test_second_host_is_told_the_board_is_busy(agent: Agent) -> None:
    core: SlowCore = agent.backend
    core.delay = 0.02
    first = AgentClient.connect(*agent.address, _secret(agent))
    second = AgentClient.connect(*agent.address, _secret(agent))
    a = np.arange(-128, 128, dtype=np.int8).repeat(40)  # 10,240 pairs: 20 jobs of 512
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(out=first.request("products", {"config": "2222"}, {"a": a, "b": a})))
    thread.start()
    time.sleep(0.1)
    with pytest.raises(AgentBusyError, match=r"the board is busy with a products request of 127.0.0.1:\d+") as info:
        second.request("products", {"config": "0000"}, {"a": a[:4], "b": a[:4]})
    assert "retry" in str(info.value)
    thread.join()
    np.testing.assert_array_equal(result["out"].arrays["out"], golden_table("2222").lookup(a, a))
    assert second.request("info").kind == "info"  # busy was an answer, not a hang-up
    first.close()
    second.close()


def test_host_that_leaves_mid_job_leaves_the_core_recovered(agent: Agent) -> None:
    core: SlowCore = agent.backend
    core.delay = 0.02
    sock = _authenticated(agent)
    a = np.zeros(1 << 14, np.int8)  # 32 jobs of 512 pairs
    wire.send_frame(sock, "products", {"config": "3330"}, {"a": a, "b": a})
    time.sleep(0.15)
    sock.close()
    deadline = time.monotonic() + 5
    while core.recovered == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert core.recovered == 1 and core.executed < 32  # abandoned between jobs, then cancelled and reset
    core.delay = 0.0
    _serving(agent)


def test_a_failing_job_recovers_the_core(agent: Agent) -> None:
    core: SlowCore = agent.backend
    client = AgentClient.connect(*agent.address, _secret(agent))
    original = core._run
    core._run = lambda payload: (np.zeros(0, np.uint8), False, False)  # the core never answers
    with pytest.raises(HilError, match="DMA receive time-out"):
        client.request("products", {"config": "3330"}, {"a": np.ones(8, np.int8), "b": np.ones(8, np.int8)})
    assert core.recovered == 1
    core._run = original
    client.close()
    _serving(agent)


def test_frame_round_trip_keeps_dtypes_shapes_and_alignment() -> None:
    left, right = socket.socketpair()
    arrays = {
        "a": np.arange(5, dtype=np.int8),
        "w": np.arange(6, dtype="<i4").reshape(2, 3),
        "z": np.zeros((0, 3), np.uint8),
        "m": np.array([True, False]),
    }
    wire.send_frame(left, "x", {"n": 1, "s": "é"}, arrays)
    frame = wire.recv_frame(right)
    assert frame.kind == "x" and frame.fields == {"n": 1, "s": "é"}
    for name, arr in arrays.items():
        assert frame.arrays[name].dtype == arr.dtype and np.array_equal(frame.arrays[name], arr)
    with pytest.raises(FrameError, match="cannot be sent"):
        wire.encode("x", arrays={"f": np.zeros(2)})
    left.close()
    with pytest.raises(wire.PeerClosed):
        wire.recv_frame(right)
    right.close()


def test_error_classes_cross_the_link_by_name() -> None:
    from approxhil_board.errors import error_from_wire

    assert isinstance(error_from_wire("AgentBusyError", "m", "f"), AgentBusyError)
    assert type(error_from_wire("SomethingNew", "m", None)) is HilError
    assert isinstance(error_from_wire("HilProtocolError", "m", None), HilProtocolError)


def test_pipelined_requests_stop_at_the_first_error_and_the_link_stays_usable(
    agent: Agent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import approxhil.hil.remote as remote

    monkeypatch.setattr(remote, "CHUNK_PAIRS", 1024)  # many requests, two in flight
    core: SlowCore = agent.backend
    original, calls = core._run, {"n": 0}

    def third_request_fails(payload):
        calls["n"] += 1
        return (np.zeros(0, np.uint8), False, False) if calls["n"] == 3 else original(payload)

    core._run = third_request_fails
    a = np.arange(-128, 128, dtype=np.int8).repeat(40)  # 10 requests
    with RemoteBackend(_address(agent), secret_file=_secret_file(tmp_path, agent)) as hw:
        with pytest.raises(HilError, match="DMA receive time-out"):
            hw.products("3330", a, a)
        core._run = original
        np.testing.assert_array_equal(
            hw.products("3330", a, a), golden_table("3330").lookup(a, a)
        )  # answers of the failed call were drained
        assert hw.stats.jobs >= 10


def test_busy_board_is_one_line_on_the_command_line(
    agent: Agent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import sys

    from approxhil.cli import main

    core: SlowCore = agent.backend
    core.delay = 0.05
    secret = _secret_file(tmp_path, agent)
    client = AgentClient.connect(*agent.address, _secret(agent))
    a = np.zeros(1 << 14, np.int8)  # 32 jobs of 512 pairs: 1.6 s
    client.send("products", {"config": "0000"}, {"a": a, "b": a})
    time.sleep(0.2)
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "approxhil",
            "hil",
            "table",
            "-c",
            "3330",
            "-o",
            str(tmp_path / "t.npz"),
            "--backend",
            "remote",
            "--board",
            _address(agent),
            "--secret-file",
            str(secret),
        ],
    )
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and "the board is busy" in err and "(fix: wait" in err
    assert not (tmp_path / "t.npz").exists()
    assert client.receive().arrays["out"].size == a.size
    client.close()


def test_random_bytes_after_authentication_never_take_the_agent_down(agent: Agent) -> None:
    rng = np.random.default_rng(13)
    for i in range(24):
        sock = _authenticated(agent)
        size = int(rng.integers(1, 200))
        junk = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        if i % 2:  # a valid prefix in front of the junk: the header parser and the array checks get it
            junk = wire.PREFIX.pack(wire.MAGIC, size, int(rng.integers(0, 64))) + junk
        with contextlib.suppress(OSError):  # the agent may have hung up already, after its error frame
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)
        try:
            answer = wire.recv_frame(sock, max_body=0, idle_timeout=5)
            assert answer.kind == "error" and answer.fields["type"] in ("FrameError", "HilProtocolError", "HilError")
        except wire.PeerClosed:
            pass  # closed after the error frame went out earlier, or nothing left to say
        sock.close()
    _serving(agent)
