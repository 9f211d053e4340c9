from django.urls import path

from pql import views

# The sales queue, mounted at /sales/: sales staff only (tests/pql/test_queue_views.py checks
# every pattern here for every role).
urlpatterns = [
    path("", views.queue, name="sales_queue"),
    path("export.csv", views.export, name="sales_export"),
    path("views/", views.view_save, name="sales_view_save"),
    path("views/<int:view_id>/delete/", views.view_delete, name="sales_view_delete"),
    path("bulk/", views.bulk, name="sales_bulk"),
    path("settings/", views.queue_settings, name="sales_settings"),
    path("leads/<int:lead_id>/", views.lead_detail, name="sales_lead"),
    path("leads/<int:lead_id>/claim/", views.lead_claim, name="sales_lead_claim"),
    path("leads/<int:lead_id>/release/", views.lead_release, name="sales_lead_release"),
    path("leads/<int:lead_id>/status/", views.lead_status, name="sales_lead_status"),
    path("leads/<int:lead_id>/contact/", views.lead_contact, name="sales_lead_contact"),
    path("leads/<int:lead_id>/note/", views.lead_note, name="sales_lead_note"),
    path("leads/<int:lead_id>/snooze/", views.lead_snooze, name="sales_lead_snooze"),
    path("leads/<int:lead_id>/assign/", views.lead_assign, name="sales_lead_assign"),
]
