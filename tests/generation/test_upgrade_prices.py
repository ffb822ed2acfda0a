"""Every prompt to upgrade says what the upgrade costs: the studio's note on a style
above the plan, and the API's 402 answers (a premium-only style, the quota used up).
The price comes from billing.prices (here the display settings that stand in for
Stripe), never from a template."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from generation import services
from generation.models import QuotaUsage
from generation.selectors import quota_period
from tests.billing.conftest import subscription_for
from tests.factories import MembershipFactory, checked_photo

from . import imagefiles


@pytest.fixture(autouse=True)
def prices(settings, monkeypatch):
    settings.STRIPE_SECRET_KEY = ""
    settings.PRICE_DISPLAY_PREMIUM = "24.00 USD month"
    settings.PRICE_DISPLAY_TEAM = "13.50 EUR month"
    # As if Stripe could sell the plans, with the prices from the display settings.
    monkeypatch.setattr("billing.prices.plan_sellable", lambda plan: plan.is_paid)
    cache.clear()


@pytest.fixture
def personal(user):
    return MembershipFactory(user=user, workspace__kind="personal").workspace


def _photo(workspace, user):
    upload = imagefiles.upload(imagefiles.jpeg())
    return checked_photo(services.photo_upload(workspace=workspace, user=user, upload=upload))


def _order(api, workspace, photo, style, per_style=1):
    return api.post(
        reverse("api_orders", args=[workspace.pk]),
        {"photo": photo.pk, "styles": [style.slug], "per_style": per_style},
        format="json",
    )


def test_the_studio_says_what_a_premium_style_costs(client, user, personal, premium_style):
    client.force_login(user)

    page = client.get(reverse("studio", args=[personal.slug])).content.decode()

    assert "Upgrade to Premium</a>, $24.00 a month" in page


def test_in_a_team_the_note_offers_team_at_its_price_per_seat(
    client, user, workspace, premium_style
):
    client.force_login(user)

    page = client.get(reverse("studio", args=[workspace.slug])).content.decode()

    assert "Comes with Team</a>, €13.50 per seat a month" in page


def test_a_premium_style_refused_by_the_api_says_the_price(api, user, personal, premium_style):
    refused = _order(api, personal, _photo(personal, user), premium_style)

    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "upgrade_required"
    assert "Upgrade (Premium, $24.00 a month) to use it" in refused.json()["error"]["message"]


def test_the_quota_used_up_says_the_price_of_more(api, user, personal, workspace, free_style):
    photo = _photo(personal, user)
    assert _order(api, personal, photo, free_style, per_style=8).status_code == 201

    refused = _order(api, personal, photo, free_style)

    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "quota_exceeded"
    message = refused.json()["error"]["message"]
    assert "upgrade this workspace to a paid plan (Premium, $24.00 a month)" in message
    # The free allowance is the person's: in their team it is as used up, and the way
    # out there is Team, at its own price.
    in_team = _order(api, workspace, _photo(workspace, user), free_style)
    assert "(Team, €13.50 per seat a month)" in in_team.json()["error"]["message"]


def test_without_a_price_the_prompt_names_the_plan_alone(
    api, client, user, personal, premium_style, settings
):
    settings.PRICE_DISPLAY_PREMIUM = ""
    client.force_login(user)

    page = client.get(reverse("studio", args=[personal.slug])).content.decode()
    refused = _order(api, personal, _photo(personal, user), premium_style)

    assert "Upgrade to Premium</a></span>" in page
    assert "Upgrade (Premium) to use it" in refused.json()["error"]["message"]


def test_a_paid_team_out_of_quota_is_told_the_price_of_a_seat(api, user, workspace, free_style):
    subscription_for(workspace, plan="team", quantity=1)
    QuotaUsage.objects.for_workspace(workspace).create(
        workspace=workspace, period=quota_period(), used=200
    )

    refused = _order(api, workspace, _photo(workspace, user), free_style)

    assert refused.json()["error"]["code"] == "quota_exceeded"
    message = refused.json()["error"]["message"]
    assert "add seats for more (Team, €13.50 per seat a month)" in message


def test_the_price_in_a_quota_refusal_is_looked_up_after_the_quota_rows_are_released(
    user, personal, free_style, monkeypatch
):
    """A price may mean a call to Stripe; no quota row may stay locked meanwhile."""
    from django.db import connection

    from core.api_errors import PaymentRequired
    from generation.services import quota

    photo = _photo(personal, user)
    services.order_create(
        workspace=personal, user=user, photo=photo, style_slugs=[free_style.slug], per_style=8
    )
    outside = len(connection.savepoint_ids)
    depths: list[int] = []
    looked_up = quota.upgrade_price_words

    def price_words(workspace):
        depths.append(len(connection.savepoint_ids))
        return looked_up(workspace)

    monkeypatch.setattr(quota, "upgrade_price_words", price_words)

    with pytest.raises(PaymentRequired) as refused:
        services.order_create(
            workspace=personal, user=user, photo=photo, style_slugs=[free_style.slug], per_style=1
        )

    assert refused.value.get_codes() == "quota_exceeded"
    assert "(Premium, $24.00 a month)" in str(refused.value.detail)
    assert depths == [outside]


def test_while_upgrades_cannot_be_bought_the_refusals_say_so_instead_of_offering_one(
    api, user, personal, premium_style, free_style, monkeypatch
):
    monkeypatch.setattr("billing.prices.plan_sellable", lambda plan: False)
    photo = _photo(personal, user)

    premium = _order(api, personal, photo, premium_style).json()["error"]["message"]
    assert _order(api, personal, photo, free_style, per_style=8).status_code == 201
    quota = _order(api, personal, photo, free_style).json()["error"]["message"]

    assert "Upgrades are not available yet: pick styles marked Free." in premium
    assert "Upgrade (" not in premium
    assert "upgrade" not in quota.lower()


def test_a_one_headshot_order_over_the_quota_is_not_told_to_order_fewer(
    api, user, personal, free_style
):
    photo = _photo(personal, user)
    assert _order(api, personal, photo, free_style, per_style=8).status_code == 201

    one = _order(api, personal, photo, free_style).json()["error"]["message"]
    two = _order(api, personal, photo, free_style, per_style=2).json()["error"]["message"]

    assert "order fewer" not in one.lower() and one.split(". ")[1].startswith("Wait until")
    assert "Order fewer, wait until" in two and ", or upgrade this workspace" in two
