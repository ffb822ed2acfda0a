import pytest
from django.core.cache import cache

from billing.plans import Entitlements, Tier
from generation import selectors, services
from generation.models import Style
from generation.services import photo_upload
from tests.factories import MembershipFactory, UserFactory, checked_photo

from . import imagefiles

PREMIUM = Entitlements(
    plan="premium",
    monthly_quota=200,
    style_tiers=frozenset({Tier.FREE, Tier.PREMIUM}),
    resolution=4096,
    queue_priority=0,
    retention_days=90,
)


@pytest.fixture(autouse=True)
def _fresh_throttles(request):
    # Throttle counters live in the cache. A rolled-back test leaves the database
    # cache as it found it, but Redis and a transactional test keep what they counted.
    # Without database access there is nothing to clear (and no database to clear it in).
    uses_database = request.node.get_closest_marker("django_db") or {
        "db",
        "transactional_db",
        "live_server",
    } & set(request.fixturenames)
    if uses_database:
        request.getfixturevalue("db")
        cache.clear()


def set_entitlements(monkeypatch, rights) -> None:
    for module in (
        "generation.services.orders",
        "generation.services.purge",
        "generation.selectors",
        "generation.views",
    ):
        monkeypatch.setattr(f"{module}.entitlements", lambda workspace: rights)


@pytest.fixture
def premium(monkeypatch):
    set_entitlements(monkeypatch, PREMIUM)
    return PREMIUM


def _style(slug: str, tier: str) -> Style:
    style, _ = Style.objects.get_or_create(
        slug=slug,
        defaults={
            "name": slug.replace("-", " ").title(),
            "description": "d",
            "prompt": "p",
            "tier": tier,
        },
    )
    return style


@pytest.fixture
def free_style(db):
    return _style("corporate-grey", Tier.FREE)


@pytest.fixture
def second_free_style(db):
    return _style("modern-office", Tier.FREE)


@pytest.fixture
def premium_style(db):
    return _style("legal-library", Tier.PREMIUM)


@pytest.fixture
def photo(workspace, user):
    """A selfie through the face check, ready to order with."""
    return checked_photo(unchecked_upload(workspace, user))


@pytest.fixture
def unchecked_photo(workspace, user):
    """A selfie the GPU worker has not looked at yet."""
    return unchecked_upload(workspace, user)


def unchecked_upload(workspace, user):
    return photo_upload(workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg()))


@pytest.fixture
def colleague(workspace):
    """A plain member of the same workspace."""
    return MembershipFactory(workspace=workspace, user=UserFactory(), role="member").user


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def deliver(order, likenesses):
    """Run a placed order through the worker's services, one headshot a slot with these
    likenesses (None: not measured), and finish it."""
    running = services.order_mark_running(order_id=order.pk, worker_id="gpu-test")
    slots = selectors.order_pending_slots(order=running)
    for slot, likeness in zip(slots, likenesses, strict=True):
        services.headshot_create(
            order=running,
            style=slot.style,
            index=slot.index,
            seed=slot.index,
            image=imagefiles.portrait_pixels(1024, 1024),
            likeness=likeness,
        )
    return services.order_mark_succeeded(order=running)


@pytest.fixture
def delivered(workspace, user, photo, free_style):
    """A finished order of three headshots of one style, likenesses 0.31, None and 0.62."""
    order = services.order_create(
        workspace=workspace, user=user, photo=photo, style_slugs=[free_style.slug], per_style=3
    )
    return deliver(order, [0.31, None, 0.62])
