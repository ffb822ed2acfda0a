"""Real generation objects in a workspace, for the tenant-isolation test's URL keywords."""

from generation import selectors, services
from tests.factories import checked_photo

from . import imagefiles
from .worker import deliver


def generation_object_ids(workspace, owner) -> dict:
    photo = checked_photo(
        services.photo_upload(
            workspace=workspace, user=owner, upload=imagefiles.upload(imagefiles.jpeg())
        )
    )
    style = selectors.styles_active().filter(tier="free").first()
    order = services.order_create(
        workspace=workspace, user=owner, photo=photo, style_slugs=[style.slug], per_style=1
    )
    headshot = deliver(order).headshots.get()
    return {"photo_id": photo.pk, "order_id": order.pk, "headshot_id": headshot.pk}
