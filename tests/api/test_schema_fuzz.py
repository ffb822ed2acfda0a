"""schemathesis fuzzes the live API from its own OpenAPI schema, with every check.

A real gunicorn process (DEBUG off, as deployed) serves the test database over HTTP on
a free loopback port, with billing pointed at the Stripe-shaped server (without it,
billing answers 503, and any 5xx fails the run). The caller is a verified user whose workspace
holds a selfie and a delivered order, and who authenticates with a token from
`/auth/token/`. The run is seeded and bounded (examples per operation), so it is the
same run every time. Throttle rates are raised for this server only: a 429 stays
documented, but a fuzzer that meets one would be testing the clock, not the API.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.billing.stripe_server import FakeStripe
from tests.e2e.support import REPO, seed_styles, shared_database_url, wait_for
from tests.factories import DEFAULT_PASSWORD, MembershipFactory
from tests.tenant_objects import victim_object_ids

pytestmark = pytest.mark.slow

SEED = 20261130
MAX_EXAMPLES = 12
PREMIUM_PRICE = "price_premium_fuzz"
TEAM_PRICE = "price_team_fuzz"
VENV_BIN = Path(sys.executable).parent
# The run's JSON report and its console output are kept here for the record.
ARTIFACTS = REPO / "tests" / "artifacts" / "schemathesis"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def stripe():
    server = FakeStripe().start()
    server.known_prices = {PREMIUM_PRICE, TEAM_PRICE}
    yield server
    server.stop()


@pytest.fixture
def api_server(transactional_db, settings, stripe, tmp_path):
    # The live server is a separate process: the photo it will decrypt must be written
    # with a key it holds, and a production process refuses the development key.
    photo_key = base64.b64encode(secrets.token_bytes(32)).decode()
    settings.PHOTO_ENCRYPTION_KEYS = [photo_key]
    seed_styles()
    membership = MembershipFactory()
    objects = victim_object_ids(membership.workspace)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "PHOTO_ENCRYPTION_KEYS": photo_key,
        "DATABASE_URL": shared_database_url(),
        "DB_CONN_MAX_AGE": "0",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "STRIPE_SECRET_KEY": "sk_test_fuzz",
        "STRIPE_PRICE_PREMIUM": PREMIUM_PRICE,
        "STRIPE_PRICE_TEAM": TEAM_PRICE,
        "STRIPE_API_BASE": stripe.url,
        "THROTTLE_AUTH": "100000/min",
        "THROTTLE_UPLOAD": "100000/min",
        "THROTTLE_ORDER": "100000/min",
        "THROTTLE_PUBLIC": "100000/min",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "plain",
        "PYTHONUNBUFFERED": "1",
        # A production process serves the static files collectstatic wrote, or refuses
        # to start; the API's docs page needs them.
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    env.pop("REDIS_URL", None)
    subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=REPO,
        env=env,
        check=True,
    )
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "headshot_site.wsgi:application",
                f"--bind=127.0.0.1:{port}",
                "--workers=1",
                "--timeout=60",
                f"--control-socket={tmp_path / 'gunicorn.ctl'}",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def answers() -> bool:
            assert server.poll() is None, log_path.read_text()
            try:
                return requests.get(f"{url}/api/v1/schema/", timeout=30).status_code == 200
            except requests.RequestException:
                return False

        wait_for(answers, timeout=60, what="gunicorn to serve the schema")
        answer = requests.post(
            f"{url}/api/v1/auth/token/",
            json={"email": membership.user.email, "password": DEFAULT_PASSWORD},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        yield {
            "url": url,
            "token": answer.json()["token"],
            "workspace": membership.workspace.pk,
            "log": log_path,
            **objects,
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


# A well-formed request may still be refused for reasons no schema can state, and
# these are the only ones let through as "valid data accepted": a plan that does not
# cover it (402), and credentials that do not exist or a password too weak to take
# (400 on the two credential endpoints; schemathesis exempts an OAuth tokenUrl the same
# way). Every other check runs as shipped.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "402", "403", "404", "409", "429", "5xx"]

[[operations]]
include-path-regex = "^/api/v1/auth/(signup|token)/$"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "402", "403", "404", "409", "429", "5xx",
]

# The caller's own workspace and objects, so that valid requests reach the code
# behind the access checks (other ids are fuzzed by the negative cases).
[parameters]
"path.wid" = {workspace}
"path.photo_id" = {photo_id}
"path.order_id" = {order_id}
"path.headshot_id" = {headshot_id}
"path.invitation_id" = {invitation_id}
"""


def test_the_live_api_conforms_to_its_schema(api_server, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = ARTIFACTS / "report.json"
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(**api_server))
    command = [
        str(VENV_BIN / "st"),
        f"--config-file={config}",
        "run",
        f"{api_server['url']}/api/v1/schema/",
        "--checks=all",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        "--generation-database=none",
        "--workers=1",
        "--no-color",
        "--request-timeout=30",
        f"--header=Authorization: Token {api_server['token']}",
        "--report=json",
        f"--report-json-path={report}",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("fuzz_hooks.py"))}
    run = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    (ARTIFACTS / "output.txt").write_text(run.stdout + run.stderr)
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr + api_server["log"].read_text()
    outcome = json.loads(report.read_text())
    cases = outcome["test_cases"]
    print(
        f"schemathesis {outcome['schemathesis_version']}, seed {outcome['seed']}: "
        f"{cases['generated']} cases over {outcome['operations']['tested']} operations, "
        f"{cases['with_failures']} with failures, {cases['errored']} errored"
    )
    assert outcome["complete"] and outcome["operations"]["tested"] == outcome["operations"]["total"]
    assert all(phase["status"] != "failure" for phase in outcome["phases"].values())
    assert cases["with_failures"] == 0 and cases["errored"] == 0
    assert cases["generated"] > 20 * outcome["operations"]["tested"]
