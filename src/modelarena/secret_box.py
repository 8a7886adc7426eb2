"""Secrets at rest: an upstream's API key given to `models add` is kept in the database only
encrypted (Fernet: AES-128-CBC with an HMAC-SHA256 tag) under `secret_key`, a key that lives
in the environment of the processes that need it and never in the database or its backups.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class SecretKeyError(ValueError):
    """No usable key: the message says how to make one."""


def new_key() -> str:
    return Fernet.generate_key().decode()


def _fernet(key: str | None) -> Fernet:
    if not key:
        raise SecretKeyError(
            "storing an API key needs MODELARENA_SECRET_KEY in the environment (make one "
            "with `modelarena models secret-key`); or name the variable that holds the key "
            "with api_key_env instead, and nothing secret is stored"
        )
    try:
        return Fernet(key.encode())
    except ValueError:
        raise SecretKeyError(
            "MODELARENA_SECRET_KEY is not a Fernet key (32 url-safe base64-encoded bytes); "
            "make one with `modelarena models secret-key`"
        ) from None


def encrypt(key: str | None, secret: str) -> str:
    return _fernet(key).encrypt(secret.encode()).decode()


def decrypt(key: str | None, token: str) -> str:
    try:
        return _fernet(key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            "a stored API key cannot be decrypted with this MODELARENA_SECRET_KEY (it was "
            "stored under another key); give the key again with `modelarena models update`"
        ) from None
