"""The relay's keys in its data directory: raw 32-byte secrets, mode 0600, made on first start."""
import os
import pathlib

from .crypto import Identity, OnionKey

IDENTITY_FILE = "identity-ed25519.secret"
ONION_FILE = "onion-x25519.secret"


def _load_or_create(path: pathlib.Path, make: bytes) -> bytes:
    if path.exists():
        secret = path.read_bytes()
        if len(secret) != 32:
            raise SystemExit(f"{path}: expected a 32-byte secret, found {len(secret)} bytes")
        return secret
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(make)
    return make


def load_keys(data_dir: str) -> tuple[Identity, OnionKey]:
    directory = pathlib.Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = Identity.from_seed(_load_or_create(directory / IDENTITY_FILE, Identity.generate().seed()))
    onion = OnionKey.from_secret(_load_or_create(directory / ONION_FILE, OnionKey.generate().secret()))
    return identity, onion
