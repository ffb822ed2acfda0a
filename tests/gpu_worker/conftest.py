"""Fixtures for the GPU engine: one tiny model set and one engine per test session.

The worker stack (torch, diffusers, insightface) is imported inside the fixtures, so a
web-tier install without it can still collect the rest of the suite.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gpu_worker.tiny import ensure_tiny_set

    model_dir = tmp_path_factory.mktemp("models")
    ensure_tiny_set(model_dir)
    return model_dir


@pytest.fixture(scope="session")
def engine(tiny_model_dir: Path):
    from gpu_worker.pipeline.engine import HeadshotEngine

    return HeadshotEngine.load(model_dir=tiny_model_dir, model_set="tiny", device="cpu")


@pytest.fixture(scope="session")
def astronaut() -> Image.Image:
    """A real photograph of a face (Eileen Collins, NASA), shipped with scikit-image."""
    from skimage import data

    return Image.fromarray(data.astronaut())


@pytest.fixture(scope="session")
def face(engine, astronaut):
    return engine.analyze_face(astronaut)


@pytest.fixture(scope="session")
def noise_photo() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
