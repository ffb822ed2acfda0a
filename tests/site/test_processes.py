"""The processes `make run` starts stop quickly on a process group's SIGTERM, and a GPU
worker that cannot start says why in words a newcomer can act on."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow

MANAGE = str(settings.BASE_DIR / "manage.py")


def proc_stat(pid: int) -> list[str] | None:
    """Fields after the command name of /proc/PID/stat: state, ppid, pgrp, session, ..."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def descendants(root: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := proc_stat(int(entry.name))):
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    fields = proc_stat(pid)
    return fields is not None and fields[0] != "Z"


def wait_for_text(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in {path} after {timeout} s:\n{path.read_text()[-3000:]}")


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", LOG_FORMAT="plain", **extra)
    return env


def test_the_scheduler_stops_cleanly_within_seconds_when_its_process_group_gets_sigterm(tmp_path):
    env = environment(tmp_path, Q_WORKERS="2")
    subprocess.run(
        [sys.executable, MANAGE, "migrate", "--noinput"], env=env, check=True, capture_output=True
    )
    log = tmp_path / "scheduler.log"
    with log.open("w") as output:
        scheduler = subprocess.Popen(
            [sys.executable, MANAGE, "scheduler"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_text(log, "running.", timeout=120)
        cluster = descendants(scheduler.pid)
        # The sentinel, the pusher, the monitor and two workers, under the cluster's main.
        assert len(cluster) >= 6, cluster

        # What Ctrl-C's sibling from a supervisor does: every process in the group.
        sent = time.monotonic()
        os.killpg(scheduler.pid, signal.SIGTERM)
        scheduler.wait(timeout=15)
        while any(alive(pid) for pid in cluster) and time.monotonic() - sent < 15:
            time.sleep(0.1)
        assert not [pid for pid in cluster if alive(pid)]
        assert time.monotonic() - sent < 15
        # A clean stop, not the deadline's SIGKILL.
        assert "has stopped." in log.read_text()
        assert "did not stop in time" not in log.read_text()
    finally:
        for pid in {scheduler.pid, *descendants(scheduler.pid)}:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("arguments", "problem", "remedy"),
    [
        (["--device", "cpu"], "The real model weights are missing from", "fetch_models"),
        (["--device", "cuda:7"], "There is no CUDA device cuda:7 here.", "HEADSHOT_DEVICE=cpu"),
    ],
)
def test_a_worker_that_cannot_start_prints_a_box_with_the_ways_on(
    tmp_path, arguments, problem, remedy
):
    done = subprocess.run(
        [sys.executable, MANAGE, "gpu_worker", "--model-dir", str(tmp_path / "models"), *arguments],
        env=environment(tmp_path, HEADSHOT_MODELS="real"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    box = [line for line in done.stderr.splitlines() if line.startswith(("|", "+"))]
    text = " ".join(line.strip("|+- ") for line in box)
    # 76 columns, wider only where a path would not fit; always a closed rectangle.
    assert box[0] == box[-1] == "+" + "-" * (len(box[0]) - 2) + "+"
    assert len(box[0]) >= 76
    assert all(len(line) == len(box[0]) for line in box)
    assert problem in text
    assert remedy in text
    assert "The portal and the scheduler keep running" in text
    if remedy == "fetch_models":
        assert "about 12 GB" in text
        assert "NVIDIA GPU" in text
        assert "make run HEADSHOT_MODELS=tiny" in text
    # No traceback and no JSON: a person reads this.
    assert "Traceback" not in done.stderr
