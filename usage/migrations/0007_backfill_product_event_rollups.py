"""Fill the product-event rollups from the product events stored before they existed."""

from django.db import migrations
from django.db.models import Max, Min

CHUNK = 1000  # workspaces per pass


def backfill(apps, schema_editor):
    from usage.rollups import product_event_rollups_rebuild

    ProductEvent = apps.get_model("usage", "ProductEvent")
    bounds = ProductEvent.objects.aggregate(low=Min("workspace_id"), high=Max("workspace_id"))
    if bounds["low"] is None:
        return
    for pk_from in range(bounds["low"], bounds["high"] + 1, CHUNK):
        product_event_rollups_rebuild(
            pk_from=pk_from,
            pk_to=pk_from + CHUNK,
            event_model=ProductEvent,
            daily_model=apps.get_model("usage", "ProductEventDaily"),
            person_model=apps.get_model("usage", "ActivePersonDay"),
        )


def clear(apps, schema_editor):
    apps.get_model("usage", "ProductEventDaily").objects.all().delete()
    apps.get_model("usage", "ActivePersonDay").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("usage", "0006_product_event_daily")]

    operations = [migrations.RunPython(backfill, clear)]
