"""Fault tests: each ends with every order delivered, or failed with its quota back.
None lost, none stuck in running, none charged twice."""

from tests.e2e.fixtures import (  # noqa: F401 (fixtures)
    customer,
    customer_to_check,
    start_worker,
    tiny_model_dir,
)
from tests.generation.conftest import free_style, photo, second_free_style  # noqa: F401
