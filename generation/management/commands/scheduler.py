"""The scheduler and web-side jobs (django-q2's cluster), safe to stop with a process
group's SIGTERM.

django-q2's cluster only stops cleanly when its main process alone gets the signal:
its sentinel and the sentinel's children (pusher, monitor, workers) keep SIGTERM's
default action, so a SIGTERM sent to the whole group (Ctrl-C's sibling from a
supervisor, `kill -- -PGID`, systemd's control-group kill) kills them at once, often
while the sentinel holds the lock of the cluster's shared stop event. The main
process's own handler then waits on that lock forever, and the cluster hangs until
SIGKILL. So the cluster runs here in a session of its own, out of reach of group
signals, and this process hands it one SIGTERM, waits for the clean stop, and kills
whatever is left after a deadline.
"""

import ctypes
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

# Long enough for the cluster to finish its pass (pusher poll, poison pills, monitor).
STOP_DEADLINE_SECONDS = 10
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the cluster's process: get SIGTERM if this command dies without passing it on
    (a SIGKILL), so the cluster never outlives its supervisor."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the group signal is all there is


class Command(BaseCommand):
    help = (
        "Run the scheduler and web-side jobs (django-q2's qcluster): the hourly purge, "
        "stale-order recovery, emails. SIGTERM or Ctrl-C, to it or to its process "
        "group, stops it within seconds."
    )

    def handle(self, *args, **options):
        cluster = subprocess.Popen(
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"],
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        stopping = []

        def stop(signum, frame):
            if not stopping:
                stopping.append(time.monotonic())
                cluster.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while True:
            try:
                returncode = cluster.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stopping and time.monotonic() - stopping[0] > STOP_DEADLINE_SECONDS:
                    self.stderr.write("the task cluster did not stop in time; killing it")
                    break
        # The cluster's session id is its main process's pid: nothing of it may linger.
        try:
            os.killpg(cluster.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        returncode = cluster.wait()
        if not stopping and returncode:
            sys.exit(returncode)
