"""Two orders for the last unit of quota, placed at the same moment, on PostgreSQL."""

import threading
import time

import pytest
from django.db import close_old_connections, connection

from billing.plans import entitlements
from core.api_errors import PaymentRequired
from generation import services
from generation.models import FreeAllowanceUsage, Order, QuotaUsage, Style
from tests.factories import MembershipFactory, checked_photo

from . import imagefiles

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks are the point; run with DATABASE_URL=postgres://...",
)


def _slow_saves(monkeypatch):
    """Hold each reservation open a moment between reading and writing the usage row,
    so without the row lock both orders would read the same count and both pass."""
    save = QuotaUsage.save

    def slow_save(self, *args, **kwargs):
        time.sleep(0.2)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(QuotaUsage, "save", slow_save)


@pytest.mark.django_db(transaction=True)
def test_two_parallel_orders_for_the_last_unit_only_one_passes(monkeypatch):
    membership = MembershipFactory()
    workspace, user = membership.workspace, membership.user
    # Transactional tests flush the seeded catalog, so bring one style back.
    style, _ = Style.objects.get_or_create(
        slug="corporate-grey",
        defaults={"name": "Corporate grey", "description": "d", "prompt": "p"},
    )
    photo = checked_photo(
        services.photo_upload(
            workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
        )
    )
    quota = entitlements(workspace).monthly_quota
    services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=[style.slug], per_style=quota - 1
    )
    _slow_saves(monkeypatch)

    start = threading.Barrier(2)
    outcomes: list[str] = []

    def place():
        try:
            start.wait()
            services.order_create(
                workspace=workspace, user=user, photo=photo, style_slugs=[style.slug], per_style=1
            )
            outcomes.append("placed")
        except PaymentRequired as refused:
            outcomes.append(refused.get_codes())
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=place) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["placed", "quota_exceeded"]
    assert QuotaUsage.objects.for_workspace(workspace).get().used == quota
    assert Order.objects.for_workspace(workspace).count() == 2


@pytest.mark.django_db(transaction=True)
def test_parallel_first_orders_of_the_month_create_one_usage_row():
    membership = MembershipFactory()
    workspace, user = membership.workspace, membership.user
    style, _ = Style.objects.get_or_create(
        slug="corporate-grey",
        defaults={"name": "Corporate grey", "description": "d", "prompt": "p"},
    )
    photo = checked_photo(
        services.photo_upload(
            workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
        )
    )
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def place():
        try:
            start.wait()
            services.order_create(
                workspace=workspace, user=user, photo=photo, style_slugs=[style.slug], per_style=2
            )
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=place) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert QuotaUsage.objects.for_workspace(workspace).get().used == 8


@pytest.mark.django_db(transaction=True)
def test_two_free_workspaces_racing_for_the_persons_last_unit_only_one_passes(monkeypatch):
    """The free allowance is the person's: its row lock serialises orders placed at the
    same moment in two different workspaces, whose own usage rows do not conflict."""
    first = MembershipFactory()
    user = first.user
    second = MembershipFactory(user=user)
    style, _ = Style.objects.get_or_create(
        slug="corporate-grey",
        defaults={"name": "Corporate grey", "description": "d", "prompt": "p"},
    )
    photos = {
        membership.workspace.pk: checked_photo(
            services.photo_upload(
                workspace=membership.workspace,
                user=user,
                upload=imagefiles.upload(imagefiles.jpeg()),
            )
        )
        for membership in (first, second)
    }
    quota = entitlements(first.workspace).monthly_quota
    services.order_create(
        workspace=first.workspace,
        user=user,
        photo=photos[first.workspace.pk],
        style_slugs=[style.slug],
        per_style=quota - 1,
    )
    save = FreeAllowanceUsage.save

    def slow_save(self, *args, **kwargs):
        time.sleep(0.2)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(FreeAllowanceUsage, "save", slow_save)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def place(workspace):
        try:
            start.wait()
            services.order_create(
                workspace=workspace,
                user=user,
                photo=photos[workspace.pk],
                style_slugs=[style.slug],
                per_style=1,
            )
            outcomes.append("placed")
        except PaymentRequired as refused:
            outcomes.append(refused.get_codes())
        finally:
            close_old_connections()
            connection.close()

    threads = [
        threading.Thread(target=place, args=(membership.workspace,))
        for membership in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["placed", "quota_exceeded"]
    assert FreeAllowanceUsage.objects.get(user=user).used == quota
    orders = Order.all_workspaces_unscoped.filter(placed_by=user)
    assert orders.count() == 2
