"""Encryption at rest for selfies and the face data derived from them.

Every blob is AES-256-GCM with a fresh 96-bit nonce, framed as
``MAGIC | key id (8 bytes) | nonce (12 bytes) | ciphertext+tag``. The key id is the
first 8 bytes of SHA-256 of the key, so settings.PHOTO_ENCRYPTION_KEYS (base64 keys,
newest first) needs no separate id bookkeeping: rotating means prepending a new key
and keeping the old ones until everything encrypted with them has been purged (24 h).
The purpose ("photo", "face_data") is bound as associated data, so a blob of one kind
cannot be passed off as the other.
"""

import base64
import binascii
import hashlib
import os
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MAGIC = b"HSE1"
KEY_ID_BYTES = 8
NONCE_BYTES = 12
_HEADER = len(MAGIC) + KEY_ID_BYTES + NONCE_BYTES


class DecryptionError(Exception):
    """The blob is damaged, or was encrypted with a key no longer configured."""


@cache
def _keyring(configured: tuple[str, ...]) -> tuple[tuple[bytes, AESGCM], ...]:
    ring = []
    for encoded in configured:
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(
                "PHOTO_ENCRYPTION_KEYS holds a value that is not base64."
            ) from None
        if len(key) != 32:
            raise ImproperlyConfigured("Each PHOTO_ENCRYPTION_KEYS entry must decode to 32 bytes.")
        ring.append((hashlib.sha256(key).digest()[:KEY_ID_BYTES], AESGCM(key)))
    if not ring:
        raise ImproperlyConfigured("PHOTO_ENCRYPTION_KEYS is empty.")
    return tuple(ring)


def keyring() -> tuple[tuple[bytes, AESGCM], ...]:
    # Keyed on the setting's value so tests that override it get their own ring.
    return _keyring(tuple(settings.PHOTO_ENCRYPTION_KEYS))


def key_id_of(blob: bytes) -> str:
    return blob[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES].hex()


def encrypt(plaintext: bytes, *, purpose: str) -> bytes:
    key_id, aead = keyring()[0]
    nonce = os.urandom(NONCE_BYTES)
    return MAGIC + key_id + nonce + aead.encrypt(nonce, plaintext, purpose.encode())


def decrypt(blob: bytes, *, purpose: str) -> bytes:
    if len(blob) < _HEADER or not blob.startswith(MAGIC):
        raise DecryptionError("Not an encrypted blob.")
    key_id = blob[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES]
    nonce = blob[len(MAGIC) + KEY_ID_BYTES : _HEADER]
    for candidate_id, aead in keyring():
        if candidate_id == key_id:
            try:
                return aead.decrypt(nonce, blob[_HEADER:], purpose.encode())
            except InvalidTag:
                raise DecryptionError("The blob was tampered with or is damaged.") from None
    raise DecryptionError(f"No configured key has id {key_id.hex()}.")
