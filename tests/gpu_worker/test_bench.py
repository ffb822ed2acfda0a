"""`python -m gpu_worker.bench --tiny --all`: every speed lever's row runs, on tiny shapes
on the CPU, and prints one table (the figures themselves mean nothing here)."""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers")

pytestmark = pytest.mark.gpu_stack


def test_every_lever_has_a_row_measured_against_the_flop_floor(capsys):
    from gpu_worker.bench import main

    rows = main(["--tiny", "--all", "--device", "cpu"])

    table = capsys.readouterr().out
    labels = [row.label for row in rows]
    for lever in (
        "Euler 30, batch 1",
        "DPM++ 2M Karras 20",
        "DPM++ 2M Karras 25",
        "batch 4",
        "batch 8",
        "decode one at a time",
        "fused QKV",
        "channels-first",
        "SDPA flash",
        "SDPA efficient",
        "SDPA math",
        "SDPA cudnn",
        "compile default",
        "compile max-autotune-no-cudagraphs",
        "compile max-autotune",
        "x4 upscale",
        "x4 upscale 256 -> 1024 px, float32, compiled",
    ):
        assert any(lever in label for label in labels), lever
        assert lever.split(",")[0] in table
    measured = [row for row in rows if row.seconds is not None]
    # CUDA-only SDPA kernels may be "not run" on a CPU; every other row is measured.
    assert all(
        row.seconds is not None
        for row in rows
        if "efficient" not in row.label and "cudnn" not in row.label
    ), [(row.label, row.note) for row in rows if row.seconds is None]
    assert all(row.seconds > 0 and row.floor > 0 for row in measured)
    assert all(row.compile_seconds is not None for row in measured if "compile" in row.label)
    assert "FLOP floor" in table and "of floor" in table
