"""Domain errors. Services raise them; views and the API turn them into a clear 4xx."""


class ApplicationError(Exception):
    """Base of every error a service raises on purpose.

    ``message`` is shown to the person who caused it; ``field`` names the form or API field
    at fault when there is one; ``status`` is the HTTP status a view should answer with.
    """

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class PermissionDenied(ApplicationError):
    """The acting user's role does not allow the change."""

    status = 403


class NotFound(ApplicationError):
    """Something the request names does not exist (or is not the actor's to see)."""

    status = 404


class Conflict(ApplicationError):
    """The change would break a rule about the current state (last owner, already a member)."""

    status = 409


class UnknownToken(ApplicationError):
    """A link's secret token matches nothing: mistyped, cut short, or guessed (counted by the
    brute-force limit on invitation links)."""
