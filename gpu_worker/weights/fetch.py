"""Download the real model set: resumable, with a progress bar and SHA-256 checks."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import requests
from requests.exceptions import ChunkedEncodingError
from tqdm import tqdm

from gpu_worker.weights.layout import model_set
from gpu_worker.weights.manifest import WeightFile, real_set_files

CHUNK = 1 << 20
ATTEMPTS = 4
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class ChecksumMismatch(RuntimeError):
    pass


class SourceUnreachable(RuntimeError):
    """A download host could not be reached after every retry (no network, DNS, a proxy)."""

    def __init__(self, spec: WeightFile, error: Exception) -> None:
        host = urlsplit(spec.url).netloc
        super().__init__(
            f"could not reach {host} to fetch {spec.dest} ({error.__class__.__name__}). "
            "Check this machine's network or proxy (HTTPS_PROXY) and run fetch_models again "
            "(it resumes), or copy a fetched model folder here; HEADSHOT_MODELS=tiny runs "
            "the offline demo set without any download."
        )
        self.host = host


def sha256_of(path: Path, digest: hashlib._Hash | None = None) -> hashlib._Hash:
    digest = digest or hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return digest


def _auth_headers(url: str) -> dict[str, str]:
    # requests drops the header itself when a redirect leaves this host (the CDN).
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token and url.startswith("https://huggingface.co/"):
        return {"Authorization": f"Bearer {token}"}
    return {}


def _server_sha256(response: requests.Response) -> str | None:
    """The LFS object id Hugging Face reports on its redirect, if it is a SHA-256."""
    for hop in [*response.history, response]:
        value = hop.headers.get("X-Linked-Etag") or hop.headers.get("ETag") or ""
        value = value.removeprefix("W/").strip('"').lower()
        if _SHA256_HEX.match(value):
            return value
    return None


def _download_part(
    spec: WeightFile, part: Path, session: requests.Session
) -> tuple[hashlib._Hash, str | None]:
    """Append the rest of ``spec`` to ``part`` (HTTP Range); the digest covers the whole file."""
    offset = part.stat().st_size if part.exists() else 0
    headers = _auth_headers(spec.url)
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with session.get(spec.url, headers=headers, stream=True, timeout=60) as response:
        if response.status_code == 416 and offset:
            # The part already holds every byte: nothing left to fetch.
            return sha256_of(part), _server_sha256(response)
        response.raise_for_status()
        if response.status_code != 206:
            offset = 0  # the server ignored the Range header: start over
        digest = sha256_of(part) if offset else hashlib.sha256()
        remaining = int(response.headers.get("Content-Length", 0)) or None
        total = offset + remaining if remaining is not None else spec.size
        with (
            part.open("ab" if offset else "wb") as stream,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=spec.dest,
                leave=False,
            ) as progress,
        ):
            for chunk in response.iter_content(CHUNK):
                stream.write(chunk)
                digest.update(chunk)
                progress.update(len(chunk))
        return digest, _server_sha256(response)


def fetch_file(
    spec: WeightFile,
    root: Path,
    *,
    session: requests.Session,
    verify_existing: bool = False,
    out: TextIO = sys.stdout,
) -> Path:
    dest = root / spec.dest
    if dest.is_file():
        problem = _problem_with_present(spec, dest, verify_existing=verify_existing)
        if problem is None:
            out.write(f"{'verified ' if verify_existing else 'present  '} {spec.dest}\n")
            return dest
        # A corrupt file is fetched again from scratch: resuming would keep its bytes.
        out.write(f"corrupt   {spec.dest}: {problem}; fetching it again\n")
        dest.unlink()

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            digest, server_sha = _download_part(spec, part, session)
            break
        except (requests.ConnectionError, requests.Timeout, ChunkedEncodingError) as error:
            if attempt == ATTEMPTS:
                raise SourceUnreachable(spec, error) from error
            out.write(f"retrying  {spec.dest} after {error.__class__.__name__}\n")
    try:
        _check(spec, digest.hexdigest(), server_sha, out)
    except ChecksumMismatch:
        part.unlink()  # a corrupt part must not be resumed
        raise
    part.replace(dest)
    out.write(f"fetched   {spec.dest} ({spec.source})\n")
    return dest


def _problem_with_present(spec: WeightFile, dest: Path, *, verify_existing: bool) -> str | None:
    size = dest.stat().st_size
    if spec.size is not None and size != spec.size:
        return f"{size:,} bytes, not the pinned {spec.size:,}"
    if verify_existing and spec.sha256:
        actual = sha256_of(dest).hexdigest()
        if actual != spec.sha256:
            return f"SHA-256 {actual}, not the pinned {spec.sha256}"
    return None


def _check(spec: WeightFile, actual: str, server_sha: str | None, out: TextIO) -> None:
    expected = spec.sha256 or server_sha
    if expected and actual != expected:
        whose = "pinned" if spec.sha256 else "server-reported"
        raise ChecksumMismatch(
            f"{spec.dest}: SHA-256 {actual} does not match the {whose} {expected} ({spec.url})"
        )
    if spec.sha256 is None:
        note = "matches the server's LFS id" if server_sha else "no server checksum to compare"
        out.write(
            f"NOTE      {spec.dest} has no pinned SHA-256 in gpu_worker/weights/manifest.py; "
            f"computed {actual} ({note}). Pin it there.\n"
        )


def fetch_real_set(
    model_dir: Path,
    *,
    only: Iterable[str] = (),
    verify_existing: bool = False,
    out: TextIO = sys.stdout,
    files: list[WeightFile] | None = None,
) -> list[Path]:
    """Fetch every file of the real set (or those whose destination starts with ``only``)."""
    root = model_set(model_dir, "real").root
    prefixes = tuple(only)
    chosen = [
        spec
        for spec in (files if files is not None else real_set_files())
        if not prefixes or spec.dest.startswith(prefixes)
    ]
    with requests.Session() as session:
        return [
            fetch_file(spec, root, session=session, verify_existing=verify_existing, out=out)
            for spec in chosen
        ]
