"""The free allowance belongs to the person, not to each workspace they create."""

import pytest
from django.urls import reverse

from accounts.models import Workspace
from core.api_errors import PaymentRequired
from generation import services
from generation.models import FreeAllowanceUsage, Order, QuotaUsage
from tests.billing.conftest import subscription_for
from tests.factories import MembershipFactory, checked_photo

from . import imagefiles
from .worker import deliver


def _free_team(user, name="Team") -> Workspace:
    return MembershipFactory(user=user, workspace__name=name).workspace


def _selfie(workspace, user):
    return checked_photo(
        services.photo_upload(
            workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg(640, 640))
        )
    )


def _place(workspace, user, style, per_style):
    return services.order_create(
        workspace=workspace,
        user=user,
        photo=_selfie(workspace, user),
        style_slugs=[style.slug],
        per_style=per_style,
    )


def _allowance_used(user) -> int:
    row = FreeAllowanceUsage.objects.filter(user=user).first()
    return row.used if row else 0


def _workspace_used(workspace) -> int:
    row = QuotaUsage.objects.for_workspace(workspace).first()
    return row.used if row else 0


def test_a_new_free_workspace_brings_no_new_free_headshots(api, user, workspace, free_style):
    """Four workspaces used to give 32 free headshots a month; now they share 8."""
    second = _free_team(user, "Second")
    _place(workspace, user, free_style, per_style=5)
    _place(second, user, free_style, per_style=3)

    third = _free_team(user, "Third")
    photo = _selfie(third, user)
    refused = api.post(
        reverse("api_orders", kwargs={"wid": third.pk}),
        {"photo": photo.pk, "styles": [free_style.slug], "per_style": 1},
        format="json",
    )

    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert "your free allowance has 0 left" in error["message"]
    assert "shared by every free workspace you order in" in error["message"]
    assert _allowance_used(user) == 8
    assert (_workspace_used(workspace), _workspace_used(second), _workspace_used(third)) == (
        5,
        3,
        0,
    )
    assert not Order.objects.for_workspace(third).exists()


def test_each_person_has_their_own_allowance_in_a_shared_free_team(
    user, workspace, colleague, free_style
):
    _place(workspace, user, free_style, per_style=8)
    _place(workspace, colleague, free_style, per_style=8)
    assert (_allowance_used(user), _allowance_used(colleague)) == (8, 8)
    assert _workspace_used(workspace) == 16


def test_a_paid_workspace_keeps_its_own_quota_and_says_so(user, workspace, free_style):
    _place(workspace, user, free_style, per_style=8)
    paid = _free_team(user, "Paid")
    subscription_for(paid, plan="team", quantity=1)

    order = _place(paid, user, free_style, per_style=10)
    assert order.free_allowance_user is None
    assert _allowance_used(user) == 8 and _workspace_used(paid) == 10

    QuotaUsage.objects.for_workspace(paid).update(used=200)
    with pytest.raises(PaymentRequired) as refused:
        _place(paid, user, free_style, per_style=1)
    assert "this workspace's plan quota has 0 left" in str(refused.value.detail)
    assert "200 a month on the Team plan" in str(refused.value.detail)


def test_refunds_go_back_to_the_allowance_the_order_came_from(user, workspace, free_style):
    canceled = _place(workspace, user, free_style, per_style=3)
    failed = _place(workspace, user, free_style, per_style=4)
    # The workspace upgrades after both orders were placed on its free plan: what they
    # did not deliver still goes back to the person, not to the new paid quota.
    subscription_for(workspace, plan="premium")
    paid = _place(workspace, user, free_style, per_style=2)
    assert (_allowance_used(user), _workspace_used(workspace)) == (7, 9)

    services.order_cancel(order=canceled)
    assert (_allowance_used(user), _workspace_used(workspace)) == (4, 6)

    deliver(failed, count=1, finish=False)
    services.order_mark_failed(order=failed, code="generation_failed", message="boom")
    assert (_allowance_used(user), _workspace_used(workspace)) == (1, 3)

    services.order_cancel(order=paid)
    assert (_allowance_used(user), _workspace_used(workspace)) == (1, 1)

    # Staff give back the one delivered headshot: to the same person's allowance.
    services.order_refund_quota(
        order=Order.objects.for_workspace(workspace).get(pk=failed.pk), count=1
    )
    assert (_allowance_used(user), _workspace_used(workspace)) == (0, 0)


def test_a_staff_retry_charges_the_same_allowance_again(user, workspace, free_style):
    order = _place(workspace, user, free_style, per_style=6)
    services.order_mark_failed(order=order, code="generation_failed", message="boom")
    assert _allowance_used(user) == 0
    _place(_free_team(user), user, free_style, per_style=8)

    services.order_retry(order=order)

    assert _allowance_used(user) == 14
    assert _workspace_used(workspace) == 6


def test_the_studio_shows_the_persons_allowance(client, user, workspace, free_style):
    _place(_free_team(user), user, free_style, per_style=3)
    client.force_login(user)
    page = client.get(reverse("studio", args=[workspace.slug])).content.decode()
    assert '<strong id="quota-remaining">5</strong> of 8 headshots left this month' in page
    assert "in your free allowance" in page


def test_one_person_owns_at_most_three_free_team_workspaces(api, user, workspace, client):
    # `workspace` is the first; a paid team does not count towards the limit.
    subscription_for(_free_team(user, "Paid"), plan="team")
    for name in ("Second", "Third"):
        created = api.post(reverse("api_workspaces"), {"name": name}, format="json")
        assert created.status_code == 201

    refused = api.post(reverse("api_workspaces"), {"name": "Fourth"}, format="json")

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "free_workspace_limit"
    assert "Upgrade one of them" in refused.json()["error"]["message"]
    client.force_login(user)
    page = client.post("/dashboard/", {"name": "Fourth"})
    assert page.status_code == 200
    assert "the most one person can have (3)" in page.content.decode()
    assert not Workspace.objects.filter(name="Fourth").exists()


def test_the_free_team_limit_is_a_setting(api, settings, workspace):
    settings.FREE_TEAM_WORKSPACES_PER_PERSON = 1
    refused = api.post(reverse("api_workspaces"), {"name": "Second"}, format="json")
    assert refused.json()["error"]["code"] == "free_workspace_limit"
