"""One worker process of `make bench-scale`: the real GpuWorker loop, brokers and
services, with a simulated engine at the engine's seam that sleeps a set GPU time
per image instead of running models, so that the orchestration is what is measured.

    python -m bench.scale_worker --worker-id scale-1 --gpu-seconds 0.25

Bench-only: the product's worker is `manage.py gpu_worker`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from PIL import Image


class SimulatedEngine:
    """The HeadshotEngine interface the worker calls, with sleeps for GPU work."""

    is_tiny = False

    def __init__(self, *, gpu_seconds: float) -> None:
        self.gpu_seconds = gpu_seconds

    def analyze_face(self, image: Image.Image):
        from gpu_worker.pipeline.faces import Face

        time.sleep(self.gpu_seconds / 10)
        return Face(
            bbox=(10.0, 10.0, 110.0, 110.0),
            kps=np.zeros((5, 2), dtype=np.float32),
            embedding=np.ones(512, dtype=np.float32),
            det_score=0.9,
        )

    def generate(self, *, seeds: list[int], **_kwargs) -> list[Image.Image]:
        time.sleep(self.gpu_seconds * len(seeds))
        images = []
        for seed in seeds:
            # Small images: storing them is not the GPU's work either.
            image = Image.new("RGB", (64, 64), (seed % 256, 90, 120))
            image.info["seed"] = seed
            images.append(image)
        return images

    def likeness(self, **_kwargs) -> float:
        return 0.9

    def upscale(self, image: Image.Image) -> Image.Image:
        return image

    def device_works(self) -> bool:
        return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--gpu-seconds", type=float, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "headshot_site.settings")
    import django

    django.setup()
    from gpu_worker.worker import GpuWorker, WorkerOptions

    worker = GpuWorker(
        engine=SimulatedEngine(gpu_seconds=args.gpu_seconds),
        device="simulated",
        model_set="simulated",
        worker_id=args.worker_id,
        options=WorkerOptions(likeness_tries=0),
    )
    worker.install_signal_handlers()
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
