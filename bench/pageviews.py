"""Portal page views at a fixed rate, for bench/web.py (run as its own process).

    python -m bench.pageviews URL TARGETS_FILE RATE DURATION_S

Open loop: a page view starts every 1/RATE seconds whether or not the earlier ones
have been answered (as independent people do), each on its own connection, and its
latency counts from when it was due, so a slow server cannot hide behind a slow
generator. TARGETS_FILE has the format of bench/wrk/load.lua's. Prints one JSON line
in the shape of the wrk script's.
"""

from __future__ import annotations

import http.client
import json
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from bench.common import percentile


def main() -> None:
    url, targets_file, rate, duration = (
        sys.argv[1],
        sys.argv[2],
        float(sys.argv[3]),
        float(sys.argv[4]),
    )
    host = urlsplit(url)
    targets = []
    for line in open(targets_file).read().splitlines():
        path, *headers = line.split("\t")
        targets.append((path, dict(header.split(": ", 1) for header in headers)))
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    lock = threading.Lock()

    def view(due: float) -> None:
        path, headers = random.choice(targets)
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=5)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            failed = "status" if response.status >= 400 else None
        except TimeoutError:
            failed = "timeout"
        except OSError:
            failed = "read"
        finally:
            connection.close()
        with lock:
            latencies.append(time.monotonic() - due)
            if failed:
                errors[failed] += 1

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        number = 0
        while (due := start + number / rate) < start + duration:
            time.sleep(max(0.0, due - time.monotonic()))
            pool.submit(view, due)
            number += 1
    elapsed = time.monotonic() - start
    us = [value * 1e6 for value in latencies] or [0.0]
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "duration_us": int(elapsed * 1e6),
                "errors": errors,
                "p50_us": int(percentile(us, 50)),
                "p95_us": int(percentile(us, 95)),
                "p99_us": int(percentile(us, 99)),
                "max_us": int(max(us)),
                "mean_us": sum(us) / len(us),
            }
        )
    )


if __name__ == "__main__":
    main()
