from django.urls import path

from metrics import views

# Mounted at /metrics/: sales staff and billing admins only (tests/metrics/test_access.py
# checks every pattern here for every role).
urlpatterns = [
    path("", views.dashboard, name="metrics_dashboard"),
    path("movements/", views.movements, name="metrics_movements"),
    path("customers/", views.customers, name="metrics_customers"),
    path("workspaces/", views.workspaces, name="metrics_workspaces"),
    path("people/", views.people, name="metrics_people"),
    path("leads/", views.leads, name="metrics_leads"),
    path("cancellations/", views.cancellations, name="metrics_cancellations"),
    path("export/<slug:chart>.csv", views.export, name="metrics_export"),
]
