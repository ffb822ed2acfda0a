"""A moto S3 server process whose bucket starts full: the S3 side of bench.purge.

Putting 100,000 objects over HTTP would take the benchmark far longer than the purge it
measures, so this process writes them straight into moto's in-memory backend and only
then serves the S3 API on loopback, as `moto_server` does: the purge talks to it over
HTTP exactly as to S3.

    python -m bench.moto_seeded --port P --bucket B --region R --names FILE
(FILE: one object name a line; each object holds --size zero bytes.)
"""

from __future__ import annotations

import argparse
import threading

from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--names", required=True)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()

    # Requests signed with any access key land in moto's default account.
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(args.bucket, args.region)
    body = b"\0" * args.size
    with open(args.names) as names:
        for name in names:
            backend.put_object(args.bucket, name.rstrip("\n"), body)
    ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
