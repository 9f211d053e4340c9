from django.urls import path

from outbound import views

# Mounted at /sales/integrations/: sales managers only (tests/outbound/test_views.py checks
# every pattern here for every role).
urlpatterns = [
    path("", views.integrations, name="outbound_integrations"),
    path("slack/", views.slack_save, name="outbound_slack_save"),
    path("slack/remove/", views.slack_remove, name="outbound_slack_remove"),
    path("endpoints/", views.endpoint_create, name="outbound_endpoint_create"),
    path("endpoints/<int:endpoint_id>/", views.endpoint_detail, name="outbound_endpoint"),
    path(
        "endpoints/<int:endpoint_id>/delete/",
        views.endpoint_delete,
        name="outbound_endpoint_delete",
    ),
    path("endpoints/<int:endpoint_id>/test/", views.endpoint_ping, name="outbound_endpoint_ping"),
    path(
        "endpoints/<int:endpoint_id>/secret/",
        views.endpoint_secret_roll,
        name="outbound_endpoint_secret_roll",
    ),
    path("deliveries/<int:delivery_id>/", views.delivery_detail, name="outbound_delivery"),
    path(
        "deliveries/<int:delivery_id>/redeliver/",
        views.delivery_redeliver,
        name="outbound_delivery_redeliver",
    ),
]
