"""The GPU pipeline: faces (insightface), InstantID on SDXL (diffusers), Real-ESRGAN (spandrel).

The worker's entry point is ``gpu_worker.pipeline.engine.HeadshotEngine``. This package
imports nothing itself, so that ``gpu_worker.pipeline.errors`` stays cheap to import.
"""
