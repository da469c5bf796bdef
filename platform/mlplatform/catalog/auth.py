"""Who is asking: HTTP authentication of the catalog with actions enabled, and its CSRF tokens.

Two ways to know the user:

* ``basic``: HTTP basic auth checked against a password file of ``user:pbkdf2_sha256$ITER$SALT$HASH``
  lines (PBKDF2-HMAC-SHA256 from :mod:`hashlib`, a random salt per entry; ``#`` comments
  and blank lines allowed). ``mlp ui passwd FILE USER`` adds or replaces an entry.
* ``header``: a reverse proxy in front (SPNEGO/Kerberos, SSO) authenticates and names the
  user in a header (``X-Remote-User``). Anyone who reaches the port could send that header,
  so the catalog listens only on a loopback address in this mode.

A form carries a token, the HMAC of the user under a secret drawn when the server starts:
another site cannot forge it, and a restart invalidates every form still open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol

from mlplatform.errors import ConfigError

__all__ = [
    "Authenticator",
    "BasicAuth",
    "HeaderAuth",
    "Csrf",
    "hash_password",
    "load_passwords",
    "set_password",
    "check_loopback",
]

log = logging.getLogger(__name__)

SCHEME = "pbkdf2_sha256"
ITERATIONS = 260_000
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]*")
_HEADER = re.compile(r"[A-Za-z0-9-]+")


class Authenticator(Protocol):
    """Names the user of a request (its WSGI environ), or None when it is not authenticated."""

    kind: str

    def user(self, environ: Mapping[str, object]) -> str | None: ...


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """``pbkdf2_sha256$ITER$SALT$HASH`` of ``password`` (salt and hash base64)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def _matches(password: str, stored: str) -> bool:
    _, iterations, salt, digest = stored.split("$")
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def _parse_entry(path: Path, number: int, line: str) -> tuple[str, str]:
    user, sep, stored = line.partition(":")
    parts = stored.split("$")
    problem = None
    if not sep or not _USER.fullmatch(user):
        problem = "is not USER:HASH"
    elif len(parts) != 4 or parts[0] != SCHEME or not parts[1].isdigit():
        problem = f"has no {SCHEME}$ITERATIONS$SALT$HASH entry"
    else:
        try:
            base64.b64decode(parts[2], validate=True)
            base64.b64decode(parts[3], validate=True)
        except binascii.Error:
            problem = "has a salt or hash that is not base64"
    if problem:
        raise ConfigError(
            f"password file {path} line {number} {problem}",
            f"add users with: mlp ui passwd {path} USER (plain-text passwords are refused)",
        )
    return user, stored


def load_passwords(path: Path) -> dict[str, str]:
    """User -> stored hash of the password file ``path``; ConfigError naming the first malformed line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(
            f"password file {path} cannot be read: {exc.strerror or exc}",
            f"create it with: mlp ui passwd {path} USER",
        ) from exc
    entries: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            user, stored = _parse_entry(path, number, line)
            entries[user] = stored
    if not entries:
        raise ConfigError(f"password file {path} names no user", f"add one with: mlp ui passwd {path} USER")
    return entries


def set_password(path: Path, user: str, password: str) -> None:
    """Add ``user`` to the password file ``path`` (created mode 0600), replacing an earlier entry of it."""
    if not _USER.fullmatch(user):
        raise ConfigError(f"'{user}' is not a user name", "use letters, digits and _ . @ - (no ':' or spaces)")
    if not password:
        raise ConfigError(f"no password given for '{user}'", "type a non-empty password")
    lines = path.read_text().splitlines() if path.is_file() else []
    kept = [line for line in lines if line.strip().partition(":")[0] != user]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text("\n".join([*kept, f"{user}:{hash_password(password)}"]) + "\n")
    log.info("password of %s set in %s", user, path)


@dataclass
class BasicAuth:
    """HTTP basic auth against a password file read once at start."""

    passwords: dict[str, str]
    kind: str = "basic"
    _verified: set[tuple[str, str]] = field(default_factory=set, repr=False)

    @classmethod
    def from_file(cls, path: Path) -> "BasicAuth":
        return cls(load_passwords(path))

    def user(self, environ: Mapping[str, object]) -> str | None:
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        stored = self.passwords.get(user)
        if not sep or stored is None:
            return None
        # PBKDF2 is slow on purpose and a browser resends the same credentials with every request:
        # a pair once verified is remembered (a wrong one is hashed again, every time)
        key = (user, hashlib.sha256(f"{password}\0{stored}".encode()).hexdigest())
        if key not in self._verified:
            if not _matches(password, stored):
                return None
            self._verified.add(key)
        return user


@dataclass(frozen=True)
class HeaderAuth:
    """The user a reverse proxy authenticated, named in ``header`` (e.g. ``X-Remote-User``)."""

    header: str
    kind: str = "header"

    def __post_init__(self) -> None:
        if not _HEADER.fullmatch(self.header):
            raise ConfigError(f"'{self.header}' is not an HTTP header name", "e.g. --user-header X-Remote-User")

    def user(self, environ: Mapping[str, object]) -> str | None:
        value = str(environ.get("HTTP_" + self.header.upper().replace("-", "_"), "")).strip()
        return value.split("@", 1)[0] if _USER.fullmatch(value) else None


def check_loopback(host: str) -> None:
    """Header auth trusts whoever reaches the port: refuse any address but a loopback one."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"--auth header on {host}: any client reaching {host} could name any user in the header",
            "listen on 127.0.0.1 behind the proxy that sets it (the default --host), or use --auth basic",
        )


class Csrf:
    """Per-user form tokens: HMAC-SHA256 of the user under a secret of this server's lifetime."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def token(self, user: str) -> str:
        return hmac.new(self._secret, user.encode(), hashlib.sha256).hexdigest()

    def valid(self, user: str, token: str) -> bool:
        return hmac.compare_digest(self.token(user).encode(), token.encode())
