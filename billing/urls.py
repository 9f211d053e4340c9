from django.urls import include, path

from billing import views
from billing.stripe.local import views as views_local

# Scoped to one workspace; tests/test_tenancy.py checks each answers 404 to members of
# other workspaces.
workspace_patterns = [
    path("plan/", views.workspace_plan, name="workspace_plan"),
    path("billing/", views.workspace_billing, name="workspace_billing"),
    path("billing/checkout/", views.workspace_billing_checkout, name="workspace_billing_checkout"),
    path("billing/change/", views.workspace_billing_change, name="workspace_billing_change"),
    path("billing/cancel/", views.workspace_billing_cancel, name="workspace_billing_cancel"),
    path("billing/resume/", views.workspace_billing_resume, name="workspace_billing_resume"),
    path("billing/portal/", views.workspace_billing_portal, name="workspace_billing_portal"),
    path("billing/return/", views.workspace_billing_return, name="workspace_billing_return"),
    path("billing/status/", views.workspace_billing_status, name="workspace_billing_status"),
]

# The local gateway's stand-ins for Stripe's hosted pages (404 when billing runs on Stripe).
# Each checks that the user manages the workspace the Stripe object belongs to.
local_patterns = [
    path("checkout/<str:session_id>/", views_local.local_checkout, name="local_checkout"),
    path("portal/<str:customer_id>/", views_local.local_portal, name="local_portal"),
    path("invoices/<str:invoice_id>/", views_local.local_invoice, name="local_invoice"),
    path("clock/", views_local.local_clock, name="local_clock"),
]

urlpatterns = [
    path("pricing/", views.pricing, name="pricing"),
    path("billing/local/", include(local_patterns)),
    path("w/<slug:workspace_slug>/", include(workspace_patterns)),
]
