"""Secrets at rest: connection credentials encrypted with Fernet (cryptography), keys from SECRETS_KEY.

SECRETS_KEY holds one or more Fernet keys, comma-separated: the first encrypts, every one decrypts
(MultiFernet), so a key is rotated by putting a new one first, running `testgen secrets rotate`
(which re-encrypts every stored secret with it), then removing the old one. A server on one machine
(no API_KEYS) may leave SECRETS_KEY unset: its key is then made in DATA_DIR/secrets.key.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from testgen.core.config import Settings
from testgen.core.errors import ConfigurationError

logger = logging.getLogger(__name__)

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


KEY_FILE = "secrets.key"


def key_file(settings: Settings) -> Path:
    """Where a server without SECRETS_KEY and API_KEYS (one machine, open or dev use) keeps its key."""
    return settings.data_dir / KEY_FILE


def load_secret_box(settings: Settings, *, create: bool = True) -> SecretBox:
    """The box of SECRETS_KEY. Without it, on a keyless server (no API_KEYS: this machine only), the
    key of DATA_DIR/secrets.key, made (mode 0600) when `create` and missing; with API_KEYS,
    ConfigurationError: every API and worker process needs the same SECRETS_KEY. Blocking file I/O:
    call it off the event loop."""
    keys = settings.secrets_key_list
    if keys:
        return SecretBox(keys)
    path = key_file(settings)
    if settings.api_key_list:
        hint = (
            f" (the connections made so far were encrypted with the key in {path})" if path.exists() else ""
        )
        raise ConfigurationError(NO_KEY + hint)
    if not path.exists():
        if not create:
            raise ConfigurationError(NO_KEY)
        _write_new_key(path)
    try:
        return SecretBox([path.read_text(encoding="ascii").strip()])
    except (ConfigurationError, UnicodeDecodeError):
        raise ConfigurationError(
            f"{path} holds no Fernet key: set SECRETS_KEY, or delete the file (a new key is made; the "
            "connections' credentials must then be entered again)"
        ) from None


def preloaded(settings: Settings) -> SecretBox | None:
    """The box at start-up when its key is there already; else None (it is made on first need, and
    a wrong setting is answered then, on use)."""
    try:
        return load_secret_box(settings, create=False)
    except ConfigurationError as exc:
        if settings.secrets_key_list or settings.api_key_list:  # not a keyless server's first start
            logger.warning("Connections cannot be used: %s", exc.message)
        return None


def _write_new_key(path: Path) -> None:
    """A new key in `path`, readable by its owner only; whole or not at all (written aside, then linked
    in place, which fails if another process made the file first: its key is the one kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(Fernet.generate_key().decode() + "\n")
        os.link(aside, path)
    except FileExistsError:
        pass
    finally:
        aside.unlink(missing_ok=True)
