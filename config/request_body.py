"""Request bodies every view can read: one middleware refuses, before any view or the CSRF
check reads a byte, a body that is too large (413), one of a media type its endpoint does
not take (415), and a form post that is not UTF-8 or carries a NUL character (400). The
answer names the problem: JSON on the API and the Stripe webhook, a page naming it elsewhere.

The API's JSON bodies are then read by ``accounts.json_body`` (depth, numbers, duplicate
keys, text), through the API's parser and the webhook view.
"""

from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from accounts.json_body import JSON_MEDIA_TYPE, too_large_message
from config.errors import _json, answers_json

FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
TITLES = {400: "Bad request", 413: "Request too large", 415: "Unsupported media type"}


def body_cap(request: HttpRequest) -> int:
    """The largest body ``request``'s endpoint reads, in bytes."""
    if answers_json(request):
        return settings.HANDOFF_API_MAX_BODY_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def refused(request: HttpRequest, message: str, status: int) -> HttpResponse:
    """The answer to a refused body: JSON on the API and the webhook, a page naming the
    status and the problem elsewhere."""
    if answers_json(request):
        return _json(request, message, status)
    page = render_to_string(
        "request_refused.html",
        {"title": TITLES.get(status, "Bad request"), "problem": message},
        request=request,
    )
    return HttpResponse(page, status=status)


def _form_problem(body: bytes, media_type: str) -> str | None:
    """What makes a form post unreadable as UTF-8 text, or None. Handoff's forms take no
    files, so every byte of a multipart body is text too."""
    if media_type == "multipart/form-data":
        decoded = [body]
    else:
        decoded = [unquote_to_bytes(part.replace(b"+", b" ")) for part in body.split(b"&")]
    for chunk in decoded:
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            return "The form data is not UTF-8 text: send it from the page's own form."
        if "\x00" in text:
            return "The form data contains a NUL character (%00), which no field accepts."
    return None


class RequestBodyMiddleware:
    """Refuses, by ``Content-Length`` and ``Content-Type`` alone where it can, a body no view
    should read: nothing is parsed, nothing is stored."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = (request.META.get("CONTENT_LENGTH") or "0").strip() or "0"
        if not declared.isdigit():
            return refused(
                request, f"The Content-Length header is not a number: {declared[:40]!r}.", 400
            )
        if int(declared) == 0:
            return self.get_response(request)
        cap = body_cap(request)
        if int(declared) > cap:
            return refused(request, too_large_message(cap), 413)
        media_type = request.content_type or ""
        if answers_json(request):
            # The API's views name what they take (DRF answers 415 for any other type); a
            # body without a type would be read as empty, so it is refused here.
            if not media_type:
                return refused(
                    request, f"The body has no Content-Type: send {JSON_MEDIA_TYPE}.", 415
                )
            return self.get_response(request)
        if request.method != "POST":
            # Pages take forms by POST only: their views answer any other method 405.
            return self.get_response(request)
        if media_type not in FORM_MEDIA_TYPES:
            return refused(
                request,
                f"Forms are posted as {' or '.join(FORM_MEDIA_TYPES)}, "
                f"not {media_type or 'a body without a Content-Type'}.",
                415,
            )
        if problem := _form_problem(request.body, media_type):
            return refused(request, problem, 400)
        return self.get_response(request)
