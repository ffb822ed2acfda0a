"""Real objects in a workspace, by the URL keyword that names them.

The tenant-isolation test fills URL keywords from here; an app that adds a
workspace-scoped route with a new keyword adds its object here.
"""


def victim_object_ids(workspace) -> dict:
    from accounts.models import Membership
    from accounts.services import invitation_create
    from tests.factories import UserFactory

    owner = Membership.objects.filter(workspace=workspace).first().user
    invitation = invitation_create(
        workspace=workspace, invited_by=owner, email=UserFactory.build().email
    )
    from tests.generation.tenant_objects import generation_object_ids

    return {
        "invitation_id": invitation.pk,
        "member_id": Membership.objects.filter(workspace=workspace).first().pk,
        **generation_object_ids(workspace, owner),
    }
