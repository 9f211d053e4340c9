from django.urls import path

from pql.api import views

urlpatterns = [
    path("pql/leads", views.LeadListView.as_view(), name="api_pql_leads"),
    path("pql/leads/<int:lead_id>", views.LeadDetailView.as_view(), name="api_pql_lead"),
    path("pql/leads/<int:lead_id>/claim", views.LeadClaimView.as_view(), name="api_pql_claim"),
    path(
        "pql/leads/<int:lead_id>/release", views.LeadReleaseView.as_view(), name="api_pql_release"
    ),
    path("pql/leads/<int:lead_id>/status", views.LeadStatusView.as_view(), name="api_pql_status"),
    path("pql/leads/<int:lead_id>/notes", views.LeadNoteView.as_view(), name="api_pql_notes"),
    path(
        "pql/leads/<int:lead_id>/contacts",
        views.LeadContactView.as_view(),
        name="api_pql_contacts",
    ),
    path("pql/leads/<int:lead_id>/assign", views.LeadAssignView.as_view(), name="api_pql_assign"),
]
