"""The model registry: pinned manifest, one layout for both sets, fetching, the missing-set error."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("requests")

from django.core.management import call_command  # noqa: E402

from gpu_worker.weights import fetch  # noqa: E402
from gpu_worker.weights.layout import (  # noqa: E402
    ModelsCorrupt,
    ModelsMissing,
    model_set,
)
from gpu_worker.weights.manifest import WeightFile, real_set_files  # noqa: E402
from gpu_worker.weights.verify import require_real_set  # noqa: E402

pytestmark = pytest.mark.gpu_stack


def test_manifest_covers_exactly_the_layout():
    models = model_set(Path("/models"), "real")
    expected = sorted(str(path.relative_to(models.root)) for path in models.required_files())
    assert sorted(spec.dest for spec in real_set_files()) == expected


def test_manifest_pins_immutable_revisions_and_wellformed_checksums():
    for spec in real_set_files():
        assert spec.url.startswith("https://")
        if "huggingface.co" in spec.url:
            assert re.search(r"/resolve/[0-9a-f]{40}/", spec.url), spec.url
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256 or ""), spec.dest


def test_every_model_file_has_a_pinned_size_but_one_that_is_always_hashed():
    from gpu_worker.weights.layout import ALWAYS_HASHED_BELOW

    unsized = [spec.dest for spec in real_set_files() if spec.size is None]
    # No public source gives this config's size; it is hashed at every start instead.
    assert unsized == ["instantid/ControlNetModel/config.json"]
    sizes = {spec.dest: spec.size for spec in real_set_files()}
    assert sizes["sdxl-base/unet/diffusion_pytorch_model.fp16.safetensors"] == 5_135_149_760
    assert all(size > 0 for size in sizes.values() if size is not None)
    assert ALWAYS_HASHED_BELOW > 1_059_962  # every config and tokenizer file


def _fake_real_set(root: Path, monkeypatch) -> list[WeightFile]:
    """A real set on disk whose pins are those of small stand-in files."""
    models = model_set(root, "real")
    specs = []
    for number, path in enumerate(models.required_files()):
        content = f"weights {number}".encode() * (number + 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        dest = str(path.relative_to(models.root))
        specs.append(
            WeightFile(
                dest=dest,
                url=f"https://example.invalid/{dest}",
                source="test",
                sha256=hashlib.sha256(content).hexdigest(),
                size=len(content),
            )
        )
    monkeypatch.setattr("gpu_worker.weights.verify.real_set_files", lambda: specs)
    return specs


def test_a_truncated_model_file_stops_the_start_naming_it_and_the_refetch(tmp_path, monkeypatch):
    specs = _fake_real_set(tmp_path, monkeypatch)
    require_real_set(tmp_path)
    unet = next(
        spec
        for spec in specs
        if spec.dest.endswith("unet/diffusion_pytorch_model.fp16.safetensors")
    )
    path = tmp_path / "real" / unet.dest
    path.write_bytes(path.read_bytes()[:-7])

    with pytest.raises(ModelsCorrupt) as error:
        require_real_set(tmp_path)

    message = str(error.value)
    assert str(path) in message and "truncated or corrupt" in message
    assert f"python manage.py fetch_models --only {unet.dest} --verify" in message


def test_a_corrupt_model_file_of_the_right_size_is_caught_by_the_full_check(tmp_path, monkeypatch):
    specs = _fake_real_set(tmp_path, monkeypatch)
    big = next(spec for spec in specs if spec.dest.endswith("ip-adapter.bin"))
    path = tmp_path / "real" / big.dest
    flipped = bytearray(path.read_bytes())
    flipped[3] ^= 0xFF
    path.write_bytes(bytes(flipped))
    monkeypatch.setattr("gpu_worker.weights.verify.ALWAYS_HASHED_BELOW", 0)

    require_real_set(tmp_path)  # sizes only: a flipped bit passes
    with pytest.raises(ModelsCorrupt, match="ip-adapter.bin has SHA-256"):
        require_real_set(tmp_path, verify_hashes=True)


def test_the_worker_command_stops_with_the_corrupt_files_name(tmp_path, monkeypatch, settings):
    """make run's terminal shows a box naming the file and the command that fetches it
    again, and the worker exits with status 2 (not a traceback, not a CommandError)."""
    specs = _fake_real_set(tmp_path, monkeypatch)
    # A long destination with hyphens and slashes: the box must not cut it.
    corrupt = max(specs, key=lambda spec: len(spec.dest))
    (tmp_path / "real" / corrupt.dest).write_bytes(b"")
    settings.HEADSHOT_WORKER_LOCK_DIR = tmp_path / "locks"
    stderr = io.StringIO()

    with pytest.raises(SystemExit) as stopped:
        call_command(
            "gpu_worker",
            "--device",
            "cpu",
            "--models",
            "real",
            "--model-dir",
            str(tmp_path),
            stderr=stderr,
        )

    assert stopped.value.code == 2
    box = stderr.getvalue()
    assert box.startswith("+---") and box.rstrip().endswith("---+"), box
    assert "The GPU worker did not start." in box
    assert corrupt.dest in box
    assert "truncated or corrupt" in box
    commands = [line.strip(" |") for line in box.splitlines()]
    assert f".venv/bin/python manage.py fetch_models --only {corrupt.dest} --verify" in commands
    # Not the whole 12 GB download: only that file.
    assert ".venv/bin/python manage.py fetch_models" not in commands
    # The worker id is free again for the next start.
    from gpu_worker.worker import claim_worker_id, default_worker_id

    again = claim_worker_id(device="cpu", lock_dir=settings.HEADSHOT_WORKER_LOCK_DIR)
    assert again.worker_id == default_worker_id("cpu")
    again.release()


def test_missing_real_weights_name_the_fetch_command(tmp_path):
    with pytest.raises(ModelsMissing) as error:
        require_real_set(tmp_path)
    message = str(error.value)
    assert "python manage.py fetch_models" in message
    assert "HEADSHOT_MODELS=tiny" in message
    assert "sdxl-base/model_index.json" in message


def test_engine_refuses_to_load_missing_real_weights_and_never_falls_back(tmp_path):
    pytest.importorskip("diffusers")
    from gpu_worker.pipeline.engine import HeadshotEngine

    with pytest.raises(ModelsMissing, match="fetch_models"):
        HeadshotEngine.load(model_dir=tmp_path, model_set="real", device="cpu")
    assert not (tmp_path / "tiny").exists()


# --- fetching, against a local server that speaks HTTP Range --------------------------------


class _Server:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.ranges: list[str | None] = []
        self.honour_range = True
        self.lfs_ids = False

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def spec(self, dest: str, *, pinned: bool = True, sha256: str | None = None) -> WeightFile:
        body = self.files[dest]
        digest = sha256 or hashlib.sha256(body).hexdigest()
        return WeightFile(
            dest=dest, url=f"{self.base}/{dest}", source="test", sha256=digest if pinned else None
        )


@pytest.fixture
def server() -> Iterator[_Server]:
    state = _Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            body = state.files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            requested = self.headers.get("Range")
            state.ranges.append(requested)
            start = (
                int(requested.split("=")[1].rstrip("-")) if requested and state.honour_range else 0
            )
            if start >= len(body) and requested:
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            if state.lfs_ids:
                self.send_header("X-Linked-Etag", f'"{hashlib.sha256(body).hexdigest()}"')
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            self.wfile.write(body[start:])

        def log_message(self, *args) -> None:
            pass

    state.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=state.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    state.httpd.shutdown()
    state.httpd.server_close()


BLOB = bytes(range(256)) * 1200  # 300 KiB


def test_fetch_resumes_a_partial_download_with_a_range_request(server, tmp_path):
    server.files["instantid/ip-adapter.bin"] = BLOB
    part = tmp_path / "real" / "instantid" / "ip-adapter.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(BLOB[:100_000])
    out = io.StringIO()

    (path,) = fetch.fetch_real_set(
        tmp_path, files=[server.spec("instantid/ip-adapter.bin")], out=out
    )

    assert server.ranges == ["bytes=100000-"]
    assert path.read_bytes() == BLOB
    assert not part.exists()
    assert "fetched   instantid/ip-adapter.bin" in out.getvalue()


def test_fetch_starts_over_when_the_server_ignores_range(server, tmp_path):
    server.files["a.bin"] = BLOB
    server.honour_range = False
    part = tmp_path / "real" / "a.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes from another version")

    (path,) = fetch.fetch_real_set(tmp_path, files=[server.spec("a.bin")], out=io.StringIO())

    assert path.read_bytes() == BLOB


def test_fetch_rejects_a_checksum_mismatch_and_drops_the_part(server, tmp_path):
    server.files["a.bin"] = BLOB
    wrong = server.spec("a.bin", sha256="0" * 64)

    with pytest.raises(fetch.ChecksumMismatch, match="does not match the pinned"):
        fetch.fetch_real_set(tmp_path, files=[wrong], out=io.StringIO())

    assert not (tmp_path / "real" / "a.bin").exists()
    assert not (tmp_path / "real" / "a.bin.part").exists()


def test_fetch_of_an_unpinned_file_prints_its_checksum_and_checks_the_servers(server, tmp_path):
    server.files["a.bin"] = BLOB
    server.lfs_ids = True
    out = io.StringIO()

    fetch.fetch_real_set(tmp_path, files=[server.spec("a.bin", pinned=False)], out=out)

    assert (
        f"computed {hashlib.sha256(BLOB).hexdigest()} (matches the server's LFS id)"
        in out.getvalue()
    )
    assert "Pin it there" in out.getvalue()


def test_fetch_skips_present_files_and_verifies_them_on_request(server, tmp_path):
    server.files["a.bin"] = BLOB
    spec = server.spec("a.bin")
    fetch.fetch_real_set(tmp_path, files=[spec], out=io.StringIO())
    server.ranges.clear()
    out = io.StringIO()

    fetch.fetch_real_set(tmp_path, files=[spec], out=out)
    fetch.fetch_real_set(tmp_path, files=[spec], verify_existing=True, out=out)

    assert server.ranges == []
    assert "present   a.bin" in out.getvalue() and "verified  a.bin" in out.getvalue()


def test_fetch_models_command_downloads_the_whole_set(server, tmp_path, settings, monkeypatch):
    settings.HEADSHOT_MODEL_DIR = tmp_path
    settings.HEADSHOT_MODELS = "real"
    models = model_set(tmp_path, "real")
    dests = [str(path.relative_to(models.root)) for path in models.required_files()]
    for number, dest in enumerate(dests):
        server.files[dest] = f"file {number}".encode()
    monkeypatch.setattr(fetch, "real_set_files", lambda: [server.spec(dest) for dest in dests])
    out = io.StringIO()

    call_command("fetch_models", stdout=out)

    assert models.missing_files() == []
    assert f"real model set ready in {models.root}" in out.getvalue()


def test_fetch_models_command_builds_the_tiny_set_when_asked(tiny_model_dir, settings):
    settings.HEADSHOT_MODEL_DIR = tiny_model_dir
    settings.HEADSHOT_MODELS = "tiny"
    out = io.StringIO()

    call_command("fetch_models", stdout=out)

    assert f"tiny model set ready in {tiny_model_dir / 'tiny'}" in out.getvalue()


def test_fetch_replaces_a_truncated_file_it_finds(server, tmp_path):
    server.files["a.bin"] = BLOB
    spec = dataclasses.replace(server.spec("a.bin"), size=len(BLOB))
    dest = tmp_path / "real" / "a.bin"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(BLOB[:100])
    out = io.StringIO()

    fetch.fetch_real_set(tmp_path, files=[spec], out=out)

    assert dest.read_bytes() == BLOB
    assert "corrupt   a.bin" in out.getvalue()


def test_fetch_models_without_network_ends_with_one_clear_line(tmp_path, settings, monkeypatch):
    from django.core.management.base import CommandError

    settings.HEADSHOT_MODEL_DIR = tmp_path
    settings.HEADSHOT_MODELS = "real"
    # Nothing listens on port 9 of the loopback: as unreachable as a machine offline.
    unreachable = WeightFile(
        dest="realesrgan/RealESRGAN_x4plus.pth",
        url="http://127.0.0.1:9/RealESRGAN_x4plus.pth",
        source="test",
        sha256="0" * 64,
        size=10,
    )
    monkeypatch.setattr(fetch, "real_set_files", lambda: [unreachable])

    with pytest.raises(CommandError) as error:
        call_command("fetch_models", stdout=io.StringIO())

    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(
        "could not reach 127.0.0.1:9 to fetch realesrgan/RealESRGAN_x4plus.pth (ConnectionError)"
    )
    assert "run fetch_models again" in message and "HEADSHOT_MODELS=tiny" in message
    # The command line shows a CommandError as its message alone, without a traceback.
    assert error.value.__class__ is CommandError
