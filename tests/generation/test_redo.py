""" "Redo this one" replaces one headshot: the redo is a one-headshot order, and once its
headshot is made it takes the old one's place in the gallery and the zip of the order
that showed it (same place), the old one kept as its previous version. While it runs,
the old card says "Redoing…" with its progress."""

import io
import json
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from generation import selectors, services
from generation.models import Headshot, Order, QuotaUsage
from tests.conftest import api_client_for
from tests.factories import MembershipFactory

from . import imagefiles
from .conftest import deliver


@pytest.fixture
def worst(delivered):
    return delivered.headshots.get(likeness=0.31)


def _status(client, workspace, order) -> dict:
    response = client.get(reverse("order_status", args=[workspace.slug, order.pk]))
    assert response.status_code == 200
    return response.json()


def _zip_names(api, workspace, order) -> list[str]:
    response = api.get(reverse("api_order_download", args=[workspace.pk, order.pk]))
    assert response.status_code == 200
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()


def test_the_redone_headshot_takes_the_old_ones_place(user, delivered, worst):
    before = [
        item.headshot.pk
        for item in selectors.order_gallery(
            headshots=list(delivered.headshots.all()), replacements=[]
        )
    ]

    redo = services.headshot_redo(headshot=worst, user=user)
    assert (redo.total, redo.redo_of_id) == (1, worst.pk)
    # A better likeness than any: the new one still keeps the old one's place.
    deliver(redo, [0.9])

    new = Headshot.objects.for_workspace(delivered.workspace).get(order=redo)
    worst.refresh_from_db()
    assert worst.replaced_by == new and new.shown_in == delivered
    gallery = selectors.order_gallery(
        headshots=list(delivered.headshots.all()),
        replacements=selectors.order_replacements(order=delivered),
    )
    assert [item.headshot.pk for item in gallery] == [
        new.pk if pk == worst.pk else pk for pk in before
    ]
    assert [item.previous for item in gallery] == [
        worst if pk == worst.pk else None for pk in before
    ]


def test_a_redo_of_the_redo_stays_in_the_first_orders_gallery(user, delivered, worst):
    deliver(services.headshot_redo(headshot=worst, user=user), [0.5])
    second = Headshot.objects.for_workspace(delivered.workspace).get(replaces=worst)

    deliver(services.headshot_redo(headshot=second, user=user), [0.4])

    third = Headshot.objects.for_workspace(delivered.workspace).get(replaces=second)
    assert third.shown_in == delivered
    found = selectors.order_status_get(
        membership=delivered.workspace.memberships.get(user=user), order_id=delivered.pk
    )
    gallery = selectors.order_gallery(headshots=found.headshots, replacements=found.replacements)
    [place] = [item for item in gallery if item.previous is not None]
    assert (place.headshot, place.previous) == (third, second)


def test_a_headshot_is_redone_once_at_a_time_and_never_after_its_replacement(
    user, delivered, worst
):
    redo = services.headshot_redo(headshot=worst, user=user)

    with pytest.raises(ValidationError) as running:
        services.headshot_redo(headshot=worst, user=user)
    assert running.value.code == "redo_in_progress"

    deliver(redo, [0.5])
    with pytest.raises(ValidationError) as replaced:
        services.headshot_redo(headshot=worst, user=user)
    assert replaced.value.code == "headshot_replaced"
    assert Order.objects.for_workspace(delivered.workspace).count() == 2


def test_a_failed_redo_leaves_the_headshot_in_place_and_can_be_tried_again(user, delivered, worst):
    redo = services.headshot_redo(headshot=worst, user=user)
    services.order_mark_failed(order=redo, code="generation_failed", message="No.")

    worst.refresh_from_db()
    assert worst.replaced_by is None
    assert services.headshot_redo(headshot=worst, user=user).redo_of == worst


def test_the_card_says_redoing_with_progress_then_shows_the_new_one(
    api, logged_in, workspace, user, delivered, worst
):
    response = api.post(reverse("api_headshot_redo", args=[workspace.pk, worst.pk]))
    assert response.status_code == 201, response.content
    redo = Order.objects.for_workspace(workspace).get(pk=response.json()["id"])
    assert response.json()["redo_of"] == worst.pk
    assert QuotaUsage.objects.for_workspace(workspace).get().used == 4

    status = _status(logged_in, workspace, delivered)
    assert status["redoing"] is True
    [card] = [item for item in status["headshots"] if item["id"] == worst.pk]
    assert card["redo"]["running"] and (card["redo"]["done"], card["redo"]["total"]) == (0, 1)
    page = logged_in.get(reverse("order_detail", args=[workspace.slug, delivered.pk]))
    html = page.content.decode()
    assert "Redoing…" in html and 'aria-label="Redo progress"' in html
    assert html.count("Redo this one · uses 1") == 2  # not on the card being redone

    running = services.order_mark_running(order_id=redo.pk, worker_id="gpu-test")
    services.order_record_progress(order=running, worker_id="gpu-test", stage="Finding your face")
    [card] = [i for i in _status(logged_in, workspace, delivered)["headshots"] if i["redo"]]
    assert card["redo"]["stage"] == "Finding your face"

    _deliver_running(running)
    status = _status(logged_in, workspace, delivered)
    new = Headshot.objects.for_workspace(workspace).get(order=redo)
    assert status["redoing"] is False
    assert [item["id"] for item in status["headshots"]] == [
        headshot.pk for headshot in _gallery_order(delivered, replaced=worst, by=new)
    ]
    [card] = [item for item in status["headshots"] if item["id"] == new.pk]
    assert card["previous_url"] == reverse("headshot_image", args=[workspace.slug, worst.pk])
    html = logged_in.get(reverse("order_detail", args=[workspace.slug, delivered.pk])).content
    assert b"Previous version" in html and b"Redoing" not in html


def _deliver_running(running):
    [slot] = selectors.order_pending_slots(order=running)
    services.headshot_create(
        order=running,
        style=slot.style,
        index=slot.index,
        seed=7,
        image=imagefiles.portrait_pixels(1024, 1024),
        likeness=0.2,
    )
    services.order_mark_succeeded(order=running)


def _gallery_order(order, *, replaced, by):
    ranked = sorted(order.headshots.all(), key=lambda h: (h.likeness is None, -(h.likeness or 0)))
    return [by if headshot == replaced else headshot for headshot in ranked]


def test_the_zip_and_the_api_hold_the_new_one(api, workspace, user, delivered, worst):
    redo = services.headshot_redo(headshot=worst, user=user)
    deliver(redo, [0.5])
    new = Headshot.objects.for_workspace(workspace).get(order=redo)

    # The new one keeps the place's name, so the customer's numbering stays as it was.
    place = f"headshot-{delivered.pk}-corporate-grey-{worst.index + 1}"
    response = api.get(reverse("api_order_download", args=[workspace.pk, delivered.pk]))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert len([name for name in names if "/" not in name]) == 3
    assert not any(f"headshot-{redo.pk}-" in name for name in names)
    with new.file.open("rb") as stored:
        assert archive.read(f"{place}.jpg") == stored.read()
    assert f"profile/{place}-profile.jpg" in names

    detail = api.get(reverse("api_order", args=[workspace.pk, delivered.pk])).json()
    replaced = {item["id"]: item["replaced_by"] for item in detail["headshots"]}
    assert replaced == {h.pk: (new.pk if h == worst else None) for h in delivered.headshots.all()}
    listed = api.get(reverse("api_orders", args=[workspace.pk])).json()["results"]
    assert {item["id"]: item["redo_of"] for item in listed} == {
        redo.pk: worst.pk,
        delivered.pk: None,
    }
    # The old one stays downloadable.
    old = api.get(reverse("api_headshot_image", args=[workspace.pk, worst.pk]))
    assert old.status_code == 200


def test_the_api_refuses_a_second_redo_with_a_conflict(api, workspace, user, delivered, worst):
    url = reverse("api_headshot_redo", args=[workspace.pk, worst.pk])
    assert api.post(url).status_code == 201

    again = api.post(url)

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "redo_in_progress"


def test_a_form_post_stays_on_the_gallery(logged_in, workspace, delivered, worst):
    response = logged_in.post(reverse("headshot_redo", args=[workspace.slug, worst.pk]))

    assert response.status_code == 302
    assert response.url == reverse("order_detail", args=[workspace.slug, delivered.pk])
    page = logged_in.get(response.url).content.decode()
    assert "Redoing it: the new one takes its place here when it is ready." in page


def test_the_redo_orders_page_says_where_its_headshot_goes(logged_in, workspace, user, worst):
    redo = services.headshot_redo(headshot=worst, user=user)

    page = logged_in.get(reverse("order_detail", args=[workspace.slug, redo.pk])).content.decode()

    gallery = reverse("order_detail", args=[workspace.slug, worst.order_id])
    assert (
        f'This order redoes one headshot of <a href="{gallery}">order #{worst.order_id}</a>' in page
    )


def test_another_workspace_cannot_redo(api, outsider, worst):
    from tests.conftest import api_client_for

    response = api_client_for(outsider).post(
        reverse("api_headshot_redo", args=[worst.workspace_id, worst.pk])
    )

    assert response.status_code == 404
    assert json.loads(response.content)["error"]["code"] == "not_found"


def test_a_headshot_chosen_for_the_team_page_hands_the_choice_to_its_replacement(
    user, delivered, worst
):
    services.headshot_choose(headshot=worst, user=user, chosen=True)

    deliver(services.headshot_redo(headshot=worst, user=user), [0.7])

    new = Headshot.objects.for_workspace(delivered.workspace).get(replaces=worst)
    worst.refresh_from_db()
    assert new.chosen_at is not None and worst.chosen_at is None


def test_the_api_answers_a_redo_with_where_it_stands_in_the_queue(api, workspace, worst):
    placed = api.post(reverse("api_headshot_redo", args=[workspace.pk, worst.pk]))

    assert placed.status_code == 201
    assert placed.json()["status"] == "queued"
    assert placed.json()["queue"]["position"] == 1


def test_another_owner_of_the_team_is_not_offered_a_redo_of_someone_elses_headshot(
    client, workspace, delivered, worst
):
    owner = MembershipFactory(workspace=workspace, role="owner").user
    client.force_login(owner)
    page = client.get(reverse("order_detail", args=[workspace.slug, delivered.pk])).content.decode()
    refused = api_client_for(owner).post(
        reverse("api_headshot_redo", args=[workspace.pk, worst.pk])
    )

    assert "Redo this one · uses 1" not in page and "More like this · uses" not in page
    assert 'data-can-redo="false"' in page
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_your_selfie"
    assert not Order.objects.for_workspace(workspace).filter(redo_of=worst).exists()
