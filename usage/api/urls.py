from django.urls import path

from usage.api.views import EntitlementsView, ProductEventsView, UsageEventsView

urlpatterns = [
    path("usage/events", UsageEventsView.as_view(), name="api_usage_events"),
    path("events", ProductEventsView.as_view(), name="api_product_events"),
    path("entitlements", EntitlementsView.as_view(), name="api_entitlements"),
]
