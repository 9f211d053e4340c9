"""The project's URLs plus a placeholder at the lead page's address (``sales:lead``), for the
e-mail tests of a branch without the queue's pages."""

from django.http import HttpResponse
from django.urls import include, path

from config.urls import urlpatterns as project_urlpatterns


def placeholder(request, pk: int) -> HttpResponse:
    return HttpResponse(f"lead {pk}")


urlpatterns = [
    *project_urlpatterns,
    path("sales/", include(([path("leads/<int:pk>/", placeholder, name="lead")], "sales"))),
]
