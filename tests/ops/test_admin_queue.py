import pytest

from tests.generation.test_queue_standing import make_order, worker

pytestmark = pytest.mark.django_db


def test_the_worker_health_page_shows_the_queue_as_customers_see_it(staff_client, workspace, user):
    first = make_order(workspace, user, ago=20)
    make_order(workspace, user, ago=10)
    page = staff_client.get("/admin/generation/workerstatus/").content.decode()
    assert "No generator is running" in page
    assert page.count('class="queued-order"') == 2
    assert f"#{first.pk}</a>" in page
    assert "when a generator runs" in page

    worker("a")
    page = staff_client.get("/admin/generation/workerstatus/").content.decode()
    assert "No generator is running" not in page
    assert "1 generator running" in page
