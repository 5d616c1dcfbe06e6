"""Secrets at rest: connection credentials encrypted with Fernet (cryptography), keys from SECRETS_KEY.

SECRETS_KEY holds one or more Fernet keys, comma-separated: the first encrypts, every one decrypts
(MultiFernet), so a key is rotated by putting a new one first, running `testgen secrets rotate`
(which re-encrypts every stored secret with it), then removing the old one.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from testgen.core.errors import ConfigurationError

NO_KEY = (
    "SECRETS_KEY is not set: connections keep their credentials encrypted with it. Set it to a key from "
    '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`, '
    "the same in every API and worker process"
)
WRONG_KEY = (
    "A stored secret cannot be decrypted with SECRETS_KEY: the key it was encrypted with is missing "
    "(keep the old key after the new one until `testgen secrets rotate` has run); enter the "
    "connection's credentials again otherwise"
)


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigurationError(NO_KEY)
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError):
            raise ConfigurationError(
                "SECRETS_KEY holds a value that is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None

    def seal(self, secrets: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()

    def open(self, sealed: str) -> dict[str, str]:
        try:
            opened = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken:
            raise ConfigurationError(WRONG_KEY) from None
        return {str(k): str(v) for k, v in opened.items()}

    def rotate(self, sealed: str) -> str:
        """The same secrets encrypted with the first key."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise ConfigurationError(WRONG_KEY) from None
