"""Model registry: on-disk layout, the pinned real set, fetching, and completeness checks.

Nothing here imports torch, so the web tier and management commands can use it cheaply.
"""

from gpu_worker.weights.layout import ModelSet, ModelsMissing, model_set
from gpu_worker.weights.verify import require_real_set

__all__ = ["ModelSet", "ModelsMissing", "model_set", "require_real_set"]
