"""The workspace row lock: every write that reads and then changes a workspace's seats,
subscription, counters or events takes it first (always this row first, so writers queue
in one order and never deadlock).

A module of its own, beside the services rather than in them: billing and usage take the
same lock, and this module depends on the workspace model only, so they can use it without
importing the services of accounts (which import theirs).
"""

from accounts.models import Workspace


def workspace_lock(workspace: Workspace | int) -> Workspace:
    """Lock the workspace row until the transaction ends and return it as it is now. Call it
    inside ``transaction.atomic``; raises ``Workspace.DoesNotExist`` when it is gone."""
    pk = workspace if isinstance(workspace, int) else workspace.pk
    return Workspace.objects.select_for_update().get(pk=pk)
