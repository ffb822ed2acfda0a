# The generation suite's fixtures (a selfie, styles), for the fast-path comparison.
from tests.generation.conftest import free_style, photo, premium, second_free_style  # noqa: F401
