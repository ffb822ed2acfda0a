"""The tenant-scoping layer: workspace-owned rows are reachable only through a workspace.

`Model.objects.for_workspace(ws)` is the ordinary way in. `Model.objects.all()` (or any
other unscoped query through `objects`) raises, so a forgotten filter fails loudly
instead of leaking another tenant's data. Code that truly works across tenants (the
admin, the GPU worker, the purge job) uses the loudly named
`all_workspaces_unscoped` manager.
"""

from django.db import models


class UnscopedQueryError(RuntimeError):
    pass


class WorkspaceScopedQuerySet(models.QuerySet):
    pass


class WorkspaceScopedManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        # A related manager (workspace.orders, order.headshots) is already narrowed by
        # the object it hangs from, so it may pass.
        if hasattr(self, "instance"):
            return super().get_queryset()
        raise UnscopedQueryError(
            f"{self.model.__name__} is workspace-owned: use "
            f"{self.model.__name__}.objects.for_workspace(workspace)."
        )

    def for_workspace(self, workspace) -> models.QuerySet:
        if workspace is None or getattr(workspace, "pk", None) is None:
            raise UnscopedQueryError("for_workspace() needs a saved workspace.")
        return super().get_queryset().filter(workspace=workspace)


class WorkspaceOwnedModel(models.Model):
    """Base for every model that belongs to one workspace."""

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="%(class)ss"
    )

    # Declared first, so it is the default manager: the admin and Django's own
    # machinery (cascades, serialisation) are staff- or system-side.
    all_workspaces_unscoped = models.Manager()
    objects = WorkspaceScopedManager()

    class Meta:
        abstract = True
