"""Signed unsubscribe links: one person, one workspace, one optional kind. Anyone holding
the link can turn that kind off for that person (no log-in), and nothing else; a link whose
signature does not match is refused."""

from django.core import signing
from django.urls import reverse

from accounts.errors import ApplicationError
from notifications.models import OPTIONAL_KINDS

SALT = "notifications.unsubscribe"


class UnsubscribeLinkInvalid(ApplicationError):
    status = 400

    def __init__(self) -> None:
        super().__init__(
            "This unsubscribe link is not valid: it may have been cut short or changed. "
            "Open the link from the e-mail again, or choose your messages on the workspace's "
            "Notifications page."
        )


def unsubscribe_token(*, user_id: int, workspace_id: int, kind: str) -> str:
    return signing.dumps({"u": user_id, "w": workspace_id, "k": kind}, salt=SALT)


def unsubscribe_path(*, user_id: int, workspace_id: int, kind: str) -> str:
    token = unsubscribe_token(user_id=user_id, workspace_id=workspace_id, kind=kind)
    return reverse("notifications_unsubscribe", kwargs={"token": token})


def unsubscribe_read(token: str) -> tuple[int, int, str]:
    """(user id, workspace id, kind) of a link, or ``UnsubscribeLinkInvalid``."""
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature as exc:
        raise UnsubscribeLinkInvalid from exc
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("u"), int)
        or not isinstance(data.get("w"), int)
        or data.get("k") not in OPTIONAL_KINDS
    ):
        raise UnsubscribeLinkInvalid
    return data["u"], data["w"], data["k"]
