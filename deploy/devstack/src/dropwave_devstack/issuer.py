"""The dev stack's own token issuer, so dev tokens are verified exactly like a real provider's.

An RSA key pair is generated on first use and kept in ``<data dir>/issuer/`` (the private key
readable by its owner only); its public half is published as a JWKS, written to
``jwks.json`` beside it and served at ``http://127.0.0.1:<port>/.well-known/jwks.json`` by a
tiny HTTP server thread of the stack process. The services get that URL as
``AUTH_JWKS_URL`` and check RS256 signatures against it; ``make token`` signs with the same
key (see :mod:`.tokens`). Dev only: a real deployment points ``AUTH_JWKS_URL`` at its OIDC
provider (Clerk, Auth0...).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "DEV_AUDIENCE",
    "DEV_ISSUER",
    "JWKS_PATH",
    "DevIssuer",
    "DevSigningKey",
    "signing_key_path",
]

DEV_ISSUER = "dropwave-dev"
DEV_AUDIENCE = "dropwave-api"
JWKS_PATH = "/.well-known/jwks.json"
ALGORITHM = "RS256"


def signing_key_path(data_dir: Path | str) -> Path:
    """Where the stack rooted at ``data_dir`` keeps its dev signing key."""
    return Path(data_dir) / "issuer" / "signing-key.pem"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class DevSigningKey:
    """The dev issuer's RSA key and its key id (the RFC 7638 thumbprint of the public key)."""

    private_key: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def load_or_create(cls, data_dir: Path | str) -> DevSigningKey:
        """Load the key of the stack at ``data_dir``, generating it on first use."""
        path = signing_key_path(data_dir)
        if not path.exists():
            _create(path)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key")
        return cls(key, _thumbprint(key.public_key()))

    def public_jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "n": _uint(numbers.n),
            "e": _uint(numbers.e),
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk()]}


def _thumbprint(public_key: rsa.RSAPublicKey) -> str:
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def _create(path: Path) -> None:
    """Write a new key; if another process wins the race, its key is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        with contextlib.suppress(FileExistsError):  # another process's key wins
            os.link(tmp, path)  # atomic, and never replaces an existing key
    finally:
        tmp.unlink(missing_ok=True)


class _JwksHandler(BaseHTTPRequestHandler):
    body: ClassVar[bytes] = b""

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != JWKS_PATH:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("Cache-Control", "public, max-age=300")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the stack's output is for the stack's events."""


class DevIssuer:
    """Serves the dev JWKS on 127.0.0.1 (port chosen by the OS) from a daemon thread."""

    name = "issuer"

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self.key: DevSigningKey | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the issuer is not running")
        return int(self._server.server_address[1])

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{JWKS_PATH}"

    def start(self) -> None:
        if self.running:
            return
        self.key = DevSigningKey.load_or_create(self.data_dir)
        body = json.dumps(self.key.jwks(), indent=2).encode()
        signing_key_path(self.data_dir).with_name("jwks.json").write_bytes(body)
        handler = type("JwksHandler", (_JwksHandler,), {"body": body})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # no port race
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="dropwave-dev-issuer", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
