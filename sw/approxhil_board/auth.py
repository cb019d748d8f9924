"""The deployment's secret and the HMAC challenge-response that proves it, in both directions.

``approxhil hil deploy`` writes a random 32-byte secret to the host and to the board (hex, mode
0600). Every connection starts with the agent's fresh random nonce; the host answers with its own
nonce and ``HMAC-SHA256(secret, "client" | protocol | agent nonce | host nonce)``; the agent checks it
in constant time and answers with the server proof over the same nonces. The secret never crosses
the link, and a recorded answer is useless for another connection (another agent nonce).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import tempfile
from pathlib import Path

from approxhil_board.errors import AuthError

SECRET_BYTES = 32
NONCE_BYTES = 32
SECRET_FIX = "use the secret file `approxhil hil deploy` wrote for this board (--secret-file), or deploy again"


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def write_secret(path: str | os.PathLike, secret: bytes) -> Path:
    """Write ``secret`` as hex to ``path`` atomically, readable by its owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret.hex() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_secret(path: str | os.PathLike) -> bytes:
    """The secret in ``path``; :class:`AuthError` when it is missing, malformed or readable by others."""
    path = Path(path)
    try:
        text = path.read_text().strip()
        mode = path.stat().st_mode
    except OSError as exc:
        raise AuthError(f"cannot read the board secret {path} ({exc.strerror or exc})", fix=SECRET_FIX) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuthError(f"the board secret {path} is readable by other users", fix=f"chmod 600 {path}")
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != SECRET_BYTES:
        raise AuthError(f"{path} does not hold a {SECRET_BYTES}-byte hex secret", fix=SECRET_FIX)
    return secret


def _proof(role: bytes, secret: bytes, protocol: int, agent_nonce: bytes, host_nonce: bytes) -> bytes:
    message = b"approxhil-" + role + b"\0" + protocol.to_bytes(4, "little") + agent_nonce + host_nonce
    return hmac.new(secret, message, hashlib.sha256).digest()


def host_proof(secret: bytes, protocol: int, agent_nonce: bytes, host_nonce: bytes) -> bytes:
    """What the host sends to prove it holds the secret."""
    return _proof(b"host", secret, protocol, agent_nonce, host_nonce)


def agent_proof(secret: bytes, protocol: int, agent_nonce: bytes, host_nonce: bytes) -> bytes:
    """What the agent sends back to prove it holds the secret too."""
    return _proof(b"agent", secret, protocol, agent_nonce, host_nonce)


def verify(expected: bytes, got: object) -> bool:
    """Constant-time comparison of a proof with what the peer sent (hex text)."""
    if not isinstance(got, str) or len(got) != 2 * len(expected):
        return False
    try:
        return hmac.compare_digest(expected, bytes.fromhex(got))
    except ValueError:
        return False
