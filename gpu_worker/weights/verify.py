"""Whether the real set on disk is complete and is the pinned one.

It sits above both the layout (where files go) and the manifest (what each file must
be), so neither of those needs the other's module to answer.
"""

from __future__ import annotations

from pathlib import Path

from gpu_worker.weights.layout import (
    ALWAYS_HASHED_BELOW,
    ModelsCorrupt,
    ModelSet,
    ModelsMissing,
    file_sha256,
    model_set,
    refetch_command,
)
from gpu_worker.weights.manifest import real_set_files


def require_real_set(model_dir: Path, *, verify_hashes: bool = False) -> ModelSet:
    """The real set, or a ModelsMissing error that says how to get it.

    Every file's size is checked against its pin (a truncated download, a disk that
    lost a block), and small files are hashed; ``verify_hashes`` hashes every file
    (minutes for 12 GB). A file that does not match raises ModelsCorrupt naming it and
    the command that fetches it again. The tiny set is never a fallback: it is only
    used where it was asked for.
    """
    models = model_set(model_dir, "real")
    missing = models.missing_files()
    if missing:
        shown = ", ".join(str(path.relative_to(models.root)) for path in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ModelsMissing(
            f"The real model weights are not complete in {models.root} "
            f"(missing {shown}{more}). Download them with `python manage.py fetch_models` "
            "(about 12 GB; resumable), or set HEADSHOT_MODELS=tiny to run the offline demo set."
        )
    for spec in real_set_files():
        path = models.root / spec.dest
        actual_size = path.stat().st_size
        problem = None
        if spec.size is not None and actual_size != spec.size:
            problem = f"is {actual_size:,} bytes, not the pinned {spec.size:,}"
        elif spec.sha256 and (
            verify_hashes or spec.size is None or actual_size < ALWAYS_HASHED_BELOW
        ):
            actual_sha = file_sha256(path)
            if actual_sha != spec.sha256:
                problem = f"has SHA-256 {actual_sha}, not the pinned {spec.sha256}"
        if problem:
            raise ModelsCorrupt(
                f"The model file {path} {problem}: it is truncated or corrupt. Fetch it "
                f"again with `{refetch_command(spec.dest)}`.",
                dest=spec.dest,
                problem=problem,
            )
    return models
