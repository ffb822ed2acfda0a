"""Place one order through the API against a running portal and wait for it to finish.

    .venv/bin/python bin/demo_order.py --url http://127.0.0.1:8000

Run it from the checkout that serves the portal, with the same environment: the
customer (a verified account with its personal workspace) is written straight into
that database, as someone who signed up and clicked the link in the email would be;
everything after that goes through the public API, as a client would: a token from
the email and password, the selfie, a style, the order, then polling its status.
`.ci/first-run` uses it on the demo model set. Exits 0 when the order succeeded.
"""

import argparse
import io
import os
import secrets
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def verified_customer(email: str, password: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "headshot_site.settings")
    import django

    django.setup()
    from allauth.account.models import EmailAddress
    from django.db import transaction

    from accounts.models import User
    from accounts.services import workspace_create_personal

    with transaction.atomic():
        user = User.objects.create_user(email=email, password=password)
        workspace_create_personal(user=user)
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)


def selfie_jpeg() -> bytes:
    # A real photograph of a face, shipped with scikit-image: the demo set's face
    # detector finds it, as the real one would.
    from PIL import Image
    from skimage import data

    out = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((768, 768)).save(out, "JPEG", quality=92)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the portal, e.g. http://127.0.0.1:8000")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait (600)")
    args = parser.parse_args()
    api = args.url.rstrip("/") + "/api/v1"
    email = f"demo-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(16)

    verified_customer(email, password)
    http = requests.Session()
    answer = http.post(f"{api}/auth/token/", json={"email": email, "password": password})
    answer.raise_for_status()
    http.headers["Authorization"] = f"Token {answer.json()['token']}"
    workspace = http.get(f"{api}/me/").json()["workspaces"][0]["id"]
    photo = http.post(
        f"{api}/workspaces/{workspace}/photos/",
        files={"image": ("selfie.jpg", selfie_jpeg(), "image/jpeg")},
    )
    photo.raise_for_status()
    photo = photo.json()
    deadline = time.monotonic() + args.timeout
    # A selfie is ordered with once the worker's face check has found a face.
    while photo["check"]["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(1)
        photo = http.get(f"{api}/workspaces/{workspace}/photos/{photo['id']}/").json()
    print(f"selfie {photo['id']}: face check {photo['check']['status']}", flush=True)
    if photo["check"]["status"] != "ok":
        return 1
    styles = http.get(f"{api}/workspaces/{workspace}/styles/").json()
    style = next(item["slug"] for item in styles if item["allowed"])
    order = http.post(
        f"{api}/workspaces/{workspace}/orders/",
        json={"photo": photo["id"], "styles": [style], "per_style": 1},
    )
    order.raise_for_status()
    order = order.json()
    print(f"order {order['id']} placed for {email}: 1 headshot in {style}", flush=True)

    said = None
    while order["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(2)
        order = http.get(f"{api}/workspaces/{workspace}/orders/{order['id']}/").json()
        news = order["queue"]["message"] if order["queue"] else order["progress"]["stage"]
        if news and news != said:
            print(f"order {order['id']}: {order['status']}: {news}", flush=True)
            said = news
    print(f"order {order['id']}: {order['status']}", flush=True)
    if order["status"] != "succeeded":
        print(f"the order did not succeed: {order.get('error')}", file=sys.stderr)
        return 1
    image = http.get(order["headshots"][0]["url"])
    image.raise_for_status()
    print(f"headshot downloaded: {len(image.content)} bytes, {image.headers['Content-Type']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
