"""Ed25519 signing of checkpoints (tree size, root hash, time) as C2SP signed-note bodies."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from citybrain.ledger.entry import iso_utc


def checkpoint_note(origin: str, size: int, root: bytes, ts: datetime | str) -> bytes:
    """The signed text: ``origin\\nsize\\nbase64(root)\\nts\\n`` (``ts`` ISO-8601 UTC)."""
    if "\n" in origin or not origin:
        raise ValueError("origin: must be one non-empty line")
    stamp = ts if isinstance(ts, str) else iso_utc(ts)
    root_b64 = base64.b64encode(root).decode()
    return f"{origin}\n{size}\n{root_b64}\n{stamp}\n".encode()


def key_id_of(raw_public_key: bytes) -> str:
    """Hex of the first 16 bytes of SHA-256(raw public key)."""
    return hashlib.sha256(raw_public_key).digest()[:16].hex()


class CheckpointSigner:
    """An Ed25519 key that signs checkpoints of one log."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self._raw_public = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id_of(self._raw_public)
        self.public_key_b64 = base64.b64encode(self._raw_public).decode()

    @classmethod
    def generate(cls) -> CheckpointSigner:
        """A fresh key kept only in memory (tests, throwaway logs)."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, data: bytes) -> CheckpointSigner:
        """Load a PEM (PKCS#8, unencrypted) or raw 32-byte private key."""
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("key file: not an Ed25519 private key")
            return cls(key)
        if len(data) == 32:
            return cls(Ed25519PrivateKey.from_private_bytes(data))
        raise ValueError("key file: expected a PEM Ed25519 private key or 32 raw bytes")

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> CheckpointSigner:
        """Load the key at ``path``, or create it there (PEM, mode 0600) when it does not exist."""
        p = Path(path)
        if p.exists():
            return cls.from_bytes(p.read_bytes())
        p.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Write a private temporary file, then link it into place: readers never see half a key,
        # and when two processes race, both end up with the winner's key.
        tmp = p.with_name(f".{p.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, p)
        except FileExistsError:
            return cls.from_bytes(p.read_bytes())
        finally:
            tmp.unlink()
        return cls(key)

    @property
    def public_key_raw(self) -> bytes:
        """The raw 32-byte public key."""
        return self._raw_public

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature (64 bytes) over ``message``."""
        return self._key.sign(message)

    @staticmethod
    def verify(public_key_b64: str, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is a valid signature of ``message`` by that public key."""
        try:
            raw = base64.b64decode(public_key_b64, validate=True)
            Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
        except (InvalidSignature, ValueError, binascii.Error):
            return False
        return True
