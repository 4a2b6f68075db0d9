"""Credentials at rest: encrypted with django-cryptography-5's Fernet primitives, with key rotation.

``CREDENTIAL_KEYS`` lists keys newest first. Values are encrypted with the first and
decrypted with whichever key made them, so a new key can be put in front while old rows
are still readable; ``manage.py rotate_credentials`` then re-encrypts every row with the
newest key, without downtime. Each configured key is stretched into separate AES and HMAC
keys, so the encryption never depends on ``SECRET_KEY``.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django_cryptography.core.signing import BadSignature, FernetSigner
from django_cryptography.utils.crypto import FernetBytes, InvalidToken


class CredentialDecryptError(Exception):
    """No configured key opens this value (a key was removed before rotation finished)."""


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ecomops-credentials", info=purpose).derive(secret.encode())


@functools.lru_cache(maxsize=8)
def _ciphers(keys: tuple[str, ...]) -> tuple[FernetBytes, ...]:
    return tuple(
        FernetBytes(key=_derive(key, b"aes-256"), signer=FernetSigner(key=_derive(key, b"hmac-sha256"))) for key in keys
    )


def ciphers() -> tuple[FernetBytes, ...]:
    keys = tuple(settings.CREDENTIAL_KEYS)
    if not keys:
        raise CredentialDecryptError("CREDENTIAL_KEYS is empty")
    return _ciphers(keys)


def encrypt_json(value: Any) -> bytes:
    return ciphers()[0].encrypt(json.dumps(value, sort_keys=True, separators=(",", ":")))


def decrypt_json(token: bytes) -> tuple[Any, int]:
    """The value and the index of the key that opened it (0 = newest)."""
    for index, cipher in enumerate(ciphers()):
        try:
            return json.loads(cipher.decrypt(bytes(token))), index
        except (BadSignature, InvalidToken):
            continue
    raise CredentialDecryptError("stored credentials cannot be decrypted with any configured CREDENTIAL_KEYS")
