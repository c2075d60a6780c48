"""`unveil models fetch` / `unveil models list`: the BlazePose GHUM detector models.

The two models the front end needs (Apache-2.0) ship inside the PyPI wheel ``mediapipe==0.10.21``.
``fetch`` runs ``python -m pip download --no-deps mediapipe==0.10.21`` into a temporary folder,
unzips ONLY the two ``.tflite`` files into :func:`unveil.paths.models_dir`, checks their sizes and
SHA-256 against the pins below and deletes the wheel. Nothing is downloaded at run time; a missing
model raises :class:`~unveil.errors.MissingAssetError` telling the user to run ``unveil models fetch``.
Idempotent: when the files are present with the right size it returns at once (the hash is checked
on fetch and by ``unveil models list --verify``).

``fetch`` also derives :data:`DERIVED` files from the extracted ones, locally and without a download:
``pose_landmark_full_taps.tflite`` is the landmark model with inner tensors as extra outputs
(:func:`unveil.detect.taps.derive_tapped`, a byte patch of the flatbuffer's output list), pinned by
size and SHA-256 like the originals and written atomically beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..digest import file_sha256
from ..errors import MissingAssetError, UnveilError
from ..paths import models_dir
from .taps import derive_tapped
from ..atomic import write_bytes

MEDIAPIPE_WHEEL = "mediapipe==0.10.21"

# name -> (path inside the wheel, size in bytes, sha256)
MODELS: dict[str, tuple[str, int, str]] = {
    "pose_detection.tflite": (
        "mediapipe/modules/pose_detection/pose_detection.tflite", 2_959_046,
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"),
    "pose_landmark_full.tflite": (
        "mediapipe/modules/pose_landmark/pose_landmark_full.tflite", 6_440_512,
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"),
}

# derived name -> (source model in MODELS, size in bytes, sha256): made by `fetch` from the source
DERIVED: dict[str, tuple[str, int, str]] = {
    "pose_landmark_full_taps.tflite": (
        "pose_landmark_full.tflite", 6_440_548,
        "192504eab896064246faaacc56f53526b10c17a30ff8da18bba50229adb880b2"),
}
_DERIVE = {"pose_landmark_full_taps.tflite": derive_tapped}


def _pin(name: str) -> tuple[int, str]:
    if name in MODELS:
        return MODELS[name][1:]
    if name in DERIVED:
        return DERIVED[name][1:]
    raise UnveilError(f"unknown detector model {name!r} (known: {', '.join([*MODELS, *DERIVED])})")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_status(name: str, verify: bool = False) -> str:
    """'ok', 'missing', 'bad size' or 'bad hash' for one model file (original or derived)."""
    size, sha = _pin(name)
    p = models_dir() / name
    if not p.is_file():
        return "missing"
    if p.stat().st_size != size:
        return "bad size"
    if verify and _sha256(p) != sha:
        return "bad hash"
    return "ok"


def model_path(name: str) -> Path:
    """Path of a present model, else a one-line MissingAssetError."""
    _pin(name)
    if model_status(name) != "ok":
        how = (f" (derives it from {DERIVED[name][0]}, no download when that is present)" if name in DERIVED else "")
        raise MissingAssetError(f"detector model {name} is missing from {models_dir()}: run `unveil models fetch`{how}")
    return models_dir() / name


def derive(force: bool = False) -> list[Path]:
    """Write every :data:`DERIVED` model that is missing (or all with ``force``) from its present,
    verified source; checks the result against its pin before the atomic write."""
    out = []
    for name, (src, size, sha) in DERIVED.items():
        if force or model_status(name) != "ok":
            sp = model_path(src)
            data = sp.read_bytes()
            if hashlib.sha256(data).hexdigest() != MODELS[src][2]:
                raise MissingAssetError(f"{sp} does not match its pinned sha256: run `unveil models fetch --force`")
            new = _DERIVE[name](data)
            if len(new) != size or hashlib.sha256(new).hexdigest() != sha:
                raise MissingAssetError(f"derived {name} does not match its pinned size/sha256")
            write_bytes(models_dir() / name, new)
        out.append(models_dir() / name)
    return out


def fetch(force: bool = False, quiet: bool = False) -> list[Path]:
    """Make sure every model in :data:`MODELS` is present and verified and every :data:`DERIVED`
    one derived; returns their paths."""
    out = models_dir()
    todo = [n for n in MODELS if force or model_status(n) != "ok"]
    if not todo:
        return [out / n for n in MODELS] + derive(force=force)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="unveil-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
               "-d", tmp, MEDIAPIPE_WHEEL]
        if not quiet:
            print(f"downloading {MEDIAPIPE_WHEEL} (to extract {', '.join(todo)}) ...", file=sys.stderr)
        r = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("mediapipe-*.whl"))
        if r.returncode != 0 or not wheels:
            last = (r.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise MissingAssetError(f"could not download {MEDIAPIPE_WHEEL} with pip: {last}")
        with zipfile.ZipFile(wheels[0]) as z:
            for name in todo:
                inner, size, sha = MODELS[name]
                data = z.read(inner)
                if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
                    raise MissingAssetError(f"{inner} in {wheels[0].name} does not match the pinned size/sha256")

                write_bytes(out / name, data)
    return [out / n for n in MODELS] + derive(force=True)


def detector_sha256() -> str:
    """One hash over the 2D detector model files present (``unveil models fetch``), for the cache keys.

    Returns:
        64 hex characters (``name=<sha256 or "missing">;`` per file of :data:`MODELS`, hashed).
    """
    h = hashlib.sha256()
    for name in sorted(MODELS):
        p = models_dir() / name
        h.update(name.encode() + b"=" + (file_sha256(p) if p.is_file() else "missing").encode() + b";")
    return h.hexdigest()


def main(argv: list[str], prog: str = "unveil models fetch") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="download and extract again even if present")
    a = ap.parse_args(argv)
    paths = fetch(force=a.force)
    for p in paths:
        print(f"{p}  {p.stat().st_size} B  ok")
    return 0


def list_main(argv: list[str], prog: str = "unveil models list") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="show which detector model files are present")
    ap.add_argument("--verify", action="store_true", help="also check the SHA-256 of each file")
    a = ap.parse_args(argv)
    print(f"models folder: {models_dir()}")
    bad = 0
    for name in [*MODELS, *DERIVED]:
        st = model_status(name, verify=a.verify)
        bad += st != "ok"
        print(f"  {name:<28} {st}")
    if bad:
        print("run `unveil models fetch` to get the missing ones")
    return 1 if bad else 0
