"""The one workspace row lock that accounts, billing and usage writes take first."""

import threading

import pytest
from django.db import DatabaseError, connection, transaction

from accounts.locks import workspace_lock
from accounts.models import Workspace
from tests.factories import UserFactory, WorkspaceFactory


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_workspace_lock_holds_the_row_until_the_transaction_ends():
    workspace = WorkspaceFactory(name="Locked", created_by=UserFactory(email="o@lock.io"))
    outcomes: list[str] = []

    def other_writer() -> None:
        try:
            with transaction.atomic():
                Workspace.objects.select_for_update(nowait=True).get(pk=workspace.pk)
            outcomes.append("locked it")
        except DatabaseError:
            outcomes.append("had to wait")
        finally:
            connection.close()

    with transaction.atomic():
        locked = workspace_lock(workspace.pk)
        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join()
    after = threading.Thread(target=other_writer)
    after.start()
    after.join()

    assert locked == workspace
    assert outcomes == ["had to wait", "locked it"]
