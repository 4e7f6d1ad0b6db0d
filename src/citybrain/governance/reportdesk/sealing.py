"""The reporter's identity, sealed at rest with AES-256-GCM under a key kept out of the database.

The key is the setting ``report_identity_key`` (env ``CITYBRAIN_REPORT_IDENTITY_KEY``, base64 of
32 bytes) or else the file ``report-identity.key`` in the data directory, made on first use with
mode 0600. A sealed identity reads ``v1.<key id>.<base64(nonce ‖ ciphertext)>``; the case id is
bound in as associated data, so a sealed identity moved to another case does not open. A lost
key is never silently replaced while sealed identities exist.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from citybrain.kernel.config import Settings
from citybrain.kernel.errors import ConfigError

KEY_FILE = "report-identity.key"
KEY_BYTES = 32
NONCE_BYTES = 12
VERSION = "v1"
SETTING = "report_identity_key"


@dataclass(frozen=True)
class IdentityKey:
    """The AES-256 key and its public id (the first 16 hex digits of its SHA-256)."""

    key: bytes
    key_id: str

    @classmethod
    def of(cls, key: bytes) -> IdentityKey:
        """Wrap 32 raw bytes."""
        if len(key) != KEY_BYTES:
            raise ConfigError(f"the identity key must be {KEY_BYTES} bytes", field=SETTING)
        return cls(key, hashlib.sha256(key).hexdigest()[:16])


def decode_key(text: str, where: str) -> IdentityKey:
    """A key from its base64 text (standard or URL-safe); ConfigError naming the setting."""
    try:
        raw = base64.b64decode(text.strip().replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: not base64", field=SETTING) from None
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"{where}: {len(raw)} bytes, expected {KEY_BYTES}", field=SETTING)
    return IdentityKey.of(raw)


def key_path(settings: Settings) -> Path:
    """Where the key file lives when the setting is not given."""
    return settings.data_dir / KEY_FILE


def load_key(settings: Settings, *, may_create: bool | Callable[[], bool]) -> IdentityKey:
    """The configured key: the setting, else the key file; the file is made (0600) only when
    ``may_create`` (a flag, or a check asked only then) says no sealed identity exists that a
    new key could not open."""
    if settings.report_identity_key:
        return decode_key(settings.report_identity_key, SETTING)
    path = key_path(settings)
    if not path.exists():
        if not (may_create() if callable(may_create) else may_create):
            raise ConfigError(
                f"reporters' identities are sealed but the key {path} is missing; restore it "
                f"from backup or set {SETTING} (a new key could not open them)",
                field=SETTING,
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return decode_key(path.read_text(encoding="ascii"), str(path))
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode())
    return decode_key(path.read_text(encoding="ascii"), str(path))


def _aad(case_id: int) -> bytes:
    return f"citybrain report identity {VERSION}\ncase {case_id}".encode()


def seal(key: IdentityKey, identity: dict[str, Any], case_id: int) -> str:
    """The identity as stored: encrypted and authenticated, bound to the case."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    plain = json.dumps(identity, ensure_ascii=False, sort_keys=True).encode()
    sealed = AESGCM(key.key).encrypt(nonce, plain, _aad(case_id))
    return f"{VERSION}.{key.key_id}.{base64.b64encode(nonce + sealed).decode()}"


def unseal(key: IdentityKey, stored: str, case_id: int) -> dict[str, Any]:
    """The identity sealed for ``case_id``; ConfigError when the key is not the one that
    sealed it or the text was altered."""
    version, key_id, body = [*stored.split(".", 2), "", ""][:3]
    if version != VERSION:
        raise ConfigError(f"unknown sealed identity format {version!r}", field=SETTING)
    if key_id != key.key_id:
        raise ConfigError(
            f"this identity was sealed with key {key_id}; the configured key is {key.key_id}",
            field=SETTING,
        )
    try:
        raw = base64.b64decode(body, validate=True)
        plain = AESGCM(key.key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(case_id))
    except (binascii.Error, ValueError, InvalidTag):
        raise ConfigError(
            f"the sealed identity of case {case_id} does not open (altered?)", field=SETTING
        ) from None
    doc: dict[str, Any] = json.loads(plain)
    return doc
