"""The write paths behind the team dashboard and billing's resume, called directly."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, Role
from billing import services as billing_services
from billing.models import Subscription
from generation import services as generation_services
from generation.models import Headshot
from tests.billing.conftest import (  # noqa: F401 (fixtures)
    TEAM_PRICE,
    _stripe_server,
    customer_for,
    stripe_server,
    subscription_for,
)
from tests.factories import MembershipFactory, checked_photo
from tests.generation import imagefiles
from tests.generation.worker import deliver

pytestmark = pytest.mark.django_db


def test_invitations_create_bulk_is_all_or_nothing(user, workspace):
    with pytest.raises(services.BulkInvitationRefused) as refused:
        services.invitations_create_bulk(
            workspace=workspace, invited_by=user, emails=["a@example.com", "nope", "A@example.com"]
        )
    assert refused.value.rows == [
        (2, "nope", "Not an email address."),
        (3, "A@example.com", "Repeats row 1."),
    ]
    assert not Invitation.objects.exists()
    created = services.invitations_create_bulk(
        workspace=workspace,
        invited_by=user,
        emails=["a@example.com", "b@example.com"],
        role="admin",
    )
    assert [(i.email, i.role) for i in created] == [
        ("a@example.com", "admin"),
        ("b@example.com", "admin"),
    ]


def test_invitations_create_bulk_replaces_expired_invitations_and_checks_the_inviter(
    user, workspace
):
    old = services.invitation_create(workspace=workspace, invited_by=user, email="a@example.com")
    Invitation.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=1))
    [new] = services.invitations_create_bulk(
        workspace=workspace, invited_by=user, emails=["a@example.com"]
    )
    old.refresh_from_db()
    assert old.revoked_at is not None and new.is_pending
    member = MembershipFactory(workspace=workspace, role=Role.MEMBER).user
    with pytest.raises(PermissionDenied):
        services.invitations_create_bulk(
            workspace=workspace, invited_by=member, emails=["c@example.com"]
        )
    with pytest.raises(ValidationError, match="At most 500"):
        services.invitations_create_bulk(
            workspace=workspace,
            invited_by=user,
            emails=[f"p{n}@example.com" for n in range(501)],
        )


def test_invitation_resend_refuses_a_used_invitation(user, workspace):
    invitation = services.invitation_create(
        workspace=workspace, invited_by=user, email="a@example.com"
    )
    services.invitation_revoke(invitation=invitation, revoked_by=user)
    with pytest.raises(ValidationError, match="already accepted or withdrawn") as refused:
        services.invitation_resend(invitation=invitation, sent_by=user)
    assert refused.value.code == "invitation_closed"


def test_headshot_choose_is_for_the_person_who_ordered_it(user, workspace):
    from tests.e2e.support import seed_styles

    seed_styles()
    photo = checked_photo(
        generation_services.photo_upload(
            workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
        )
    )
    order = generation_services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=["corporate-grey"], per_style=1
    )
    headshot = deliver(order).headshots.get()
    generation_services.headshot_choose(headshot=headshot, user=user, chosen=True)
    assert Headshot.objects.for_workspace(workspace).get().chosen_at is not None
    colleague = MembershipFactory(workspace=workspace, role=Role.OWNER).user
    with pytest.raises(PermissionDenied):
        generation_services.headshot_choose(headshot=headshot, user=colleague, chosen=False)
    generation_services.headshot_choose(headshot=headshot, user=user, chosen=False)
    assert Headshot.objects.for_workspace(workspace).get().chosen_at is None


def test_subscription_resume_asks_stripe_and_applies_its_answer(
    user,
    workspace,
    stripe_server,  # noqa: F811
):
    customer = customer_for(workspace)
    stripe_server.add_subscription(
        id="sub_team", customer=customer, price=TEAM_PRICE, quantity=4, cancel_at_period_end=True
    )
    subscription_for(
        workspace, stripe_subscription_id="sub_team", plan="team", cancel_at_period_end=True
    )
    member = MembershipFactory(workspace=workspace, role=Role.MEMBER).user
    with pytest.raises(PermissionDenied):
        billing_services.subscription_resume(workspace=workspace, user=member)

    resumed = billing_services.subscription_resume(workspace=workspace, user=user)

    assert resumed.cancel_at_period_end is False and resumed.quantity == 4
    with pytest.raises(ValidationError, match="no cancellation to undo"):
        billing_services.subscription_resume(workspace=workspace, user=user)


def test_subscriptions_cancel_now_ends_live_ones_only(workspace, stripe_server):  # noqa: F811
    customer = customer_for(workspace)
    stripe_server.add_subscription(id="sub_live", customer=customer, price=TEAM_PRICE)
    subscription_for(workspace, stripe_subscription_id="sub_live", plan="team")
    subscription_for(
        workspace, stripe_subscription_id="sub_old", status=Subscription.Status.CANCELED
    )
    assert billing_services.subscriptions_cancel_now(workspace=workspace) == 1
    assert [r.path for r in stripe_server.requests if r.method == "DELETE"] == [
        "/v1/subscriptions/sub_live"
    ]
    live = Subscription.objects.for_workspace(workspace).get(stripe_subscription_id="sub_live")
    assert live.status == Subscription.Status.CANCELED
