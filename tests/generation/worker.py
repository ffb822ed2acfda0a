"""Plays the GPU worker's part through the services it will call."""

from PIL import Image

from generation import selectors, services


def headshot_image(size: int = 64, colour=(90, 120, 150)) -> Image.Image:
    return Image.new("RGB", (size, size), colour)


def deliver(order, *, count: int | None = None, worker_id: str = "gpu-test-1", finish: bool = True):
    """Run `order` like the worker: claim it, fill `count` slots (all by default), finish."""
    claimed = services.order_mark_running(order_id=order.pk, worker_id=worker_id)
    assert claimed is not None
    slots = selectors.order_pending_slots(order=claimed)
    for number, slot in enumerate(slots[:count] if count is not None else slots):
        services.headshot_create(
            order=claimed,
            style=slot.style,
            index=slot.index,
            seed=1000 + number,
            image=headshot_image(),
            likeness=0.8,
        )
    if finish:
        return services.order_mark_succeeded(order=claimed)
    return claimed
