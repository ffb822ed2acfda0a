"""Staff clients and a small, realistic data set for the admin and /metrics tests."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import BillingAccount, Subscription
from billing.plans import Tier
from generation import services
from generation.models import Order, Style, WorkerStatus
from tests.conftest import staff_signed_in
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory, checked_photo
from tests.generation import imagefiles
from tests.generation.worker import deliver


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Every factory user hashes a password; PBKDF2 would make these tests slow for
    # nothing they check.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    return staff_signed_in(client, staff)


def make_style(slug: str, tier: str = Tier.FREE) -> Style:
    style, _ = Style.objects.get_or_create(
        slug=slug,
        defaults={
            "name": slug.replace("-", " ").title(),
            "description": "d",
            "prompt": f"a {slug} headshot",
            "tier": tier,
        },
    )
    return style


def upload_photo(workspace, user):
    return checked_photo(
        services.photo_upload(
            workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
        )
    )


def place_order(workspace, user, *, photo=None, styles=("corporate-grey",), per_style=2) -> Order:
    for slug in styles:
        make_style(slug)
    return services.order_create(
        workspace=workspace,
        user=user,
        photo=photo or upload_photo(workspace, user),
        style_slugs=list(styles),
        per_style=per_style,
    )


def failed_order(workspace, user, *, delivered: int = 1, **kwargs) -> Order:
    """An order whose worker made `delivered` headshots, then failed."""
    order = place_order(workspace, user, **kwargs)
    running = deliver(order, count=delivered, finish=False)
    return services.order_mark_failed(
        order=running, code="generation_failed", message="The generator crashed."
    )


@pytest.fixture
def seeded(db, workspace, user):
    """One of everything the admin shows: a paying workspace, orders in several states
    with headshots, a worker, a purge run."""
    succeeded = deliver(place_order(workspace, user))
    failed = failed_order(workspace, user)
    queued = place_order(workspace, user)
    worker = WorkerStatus.objects.create(
        worker_id="gpu-host-1-0",
        hostname="gpu-host-1",
        pid=4242,
        device="cuda:0",
        model_set="tiny",
        started_at=timezone.now() - timedelta(hours=1),
        heartbeat_at=timezone.now() - timedelta(seconds=5),
        current_order=queued,
    )
    run = services.purge_run()
    paying = WorkspaceFactory()
    MembershipFactory(workspace=paying)
    account = BillingAccount.all_workspaces_unscoped.create(
        workspace=paying, stripe_customer_id="cus_TEST123"
    )
    subscription = Subscription.all_workspaces_unscoped.create(
        workspace=paying,
        stripe_subscription_id="sub_TEST123",
        stripe_customer_id="cus_TEST123",
        plan="premium",
        status=Subscription.Status.ACTIVE,
        current_period_end=timezone.now() + timedelta(days=20),
    )
    return {
        "workspace": workspace,
        "user": user,
        "succeeded": succeeded,
        "failed": failed,
        "queued": queued,
        "photo": queued.photo,
        "headshot": succeeded.headshots.first(),
        "worker": worker,
        "purge_run": run,
        "paying": paying,
        "billing_account": account,
        "subscription": subscription,
        "style": make_style("corporate-grey"),
    }
