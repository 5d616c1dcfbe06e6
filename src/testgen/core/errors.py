"""Domain exceptions raised by services; the API maps them to HTTP in one place (api/http_errors.py)."""

from __future__ import annotations


class DomainError(Exception):
    """Base class. `message` says what happened and what to do next."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(DomainError):
    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident} not found")
        self.kind = kind
        self.ident = ident


class AuthenticationError(DomainError):
    """Who is asking could not be established (wrong password, expired session, refused ID token)."""


class ForbiddenError(DomainError):
    """The caller is known and may see the object, but their role does not allow this action."""


class ConflictError(DomainError):
    pass


class InvalidRequestError(DomainError):
    pass


class UnsupportedMediaError(DomainError):
    """An uploaded file whose bytes are of a type the service does not take."""


class ContentTooLargeError(DomainError):
    """An uploaded file over a size limit, or one that would take its project over its total."""


class ServiceUnavailableError(DomainError):
    pass


class QueueUnavailableError(ServiceUnavailableError):
    pass


class DatabaseUnavailableError(ServiceUnavailableError):
    pass


class ConfigurationError(DomainError):
    """The service is configured in a way that cannot work (e.g. Gemini without a key)."""


class NotConfiguredError(DomainError):
    """The feature asked for is off in this configuration."""


class RateLimitedError(DomainError):
    """A per-client limit was reached; `retry_after_s` says when to try again."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
