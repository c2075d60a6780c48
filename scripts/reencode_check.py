"""Identity on compressed video: the same clip tracked as is and after an MPEG-4 re-encode (issue 14).

Re-encodes the first ``--frames`` frames of VIDEO with PyAV's ``mpeg4`` encoder at its default
settings (no bit rate set: libavcodec's default, 200 kb/s target; yuv420p; the source frame rate;
.mp4 container), then runs the tracker + offline stitching (``detect.people.track_video``, what
``unveil run`` does) on both and prints, per version, the number of tracks, the tracks alive at
``--at`` (covering that frame) and those held there (seen, not bridged), and the people per frame.

    PYTHONPATH=src .venv/bin/python scripts/reencode_check.py media/vtest.avi --frames 150 --at 100
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np


def reencode(src: Path, dst: Path, frames: int) -> dict:
    """Write the first ``frames`` frames of ``src`` to ``dst`` with PyAV mpeg4 defaults; returns settings."""
    import av

    from unveil.io.video import iter_frames, probe

    info = probe(src)
    fps = round(float(info.fps or 25.0))
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        st = out.add_stream("mpeg4", rate=fps)
        st.width, st.height, st.pix_fmt = info.width, info.height, "yuv420p"
        for _, img in iter_frames(src, max_frames=frames):
            for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
        settings = {"codec": "mpeg4 (PyAV/libavcodec defaults)", "bit_rate": st.codec_context.bit_rate,
                    "pix_fmt": "yuv420p", "fps": fps}
    os.replace(tmp, dst)
    settings["bytes"] = dst.stat().st_size
    return settings


def summary(path: Path, frames: int, at: int) -> dict:
    from unveil.detect.people import track_video

    st: dict = {}
    tr = track_video(path, max_frames=frames, stats=st, workers=1, num_threads=1)
    alive = [t for t in tr if t.frames[0] <= at <= t.frames[-1]]
    held = [t for t in alive if bool(np.asarray(t.extras["held"])[np.searchsorted(t.frames, at)])]
    return {"tracks": len(tr), "alive": len(alive), "held": len(held),
            "ppf": float(np.mean(st["people_per_frame"])), "stitch": st["stitch"],
            "spans": [(int(t.frames[0]), int(t.frames[-1]), int(np.asarray(t.extras["held"]).sum())) for t in tr]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("video", type=Path)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--at", type=int, default=100, help="frame at which alive tracks are counted")
    ap.add_argument("--keep", type=Path, default=None, help="write the re-encoded clip here (default: a temp file)")
    a = ap.parse_args(argv)
    if not a.video.is_file():
        print(f"reencode_check: no such video: {a.video}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as d:
        dst = a.keep or Path(d) / "reencoded.mp4"
        settings = reencode(a.video, dst, a.frames)
        print("re-encode:", settings)
        for name, p in (("original", a.video), ("re-encoded", dst)):
            s = summary(p, a.frames, a.at)
            print(f"{name}: {s['tracks']} tracks, alive at frame {a.at}: {s['alive']} (held there: {s['held']}), "
                  f"people per frame {s['ppf']:.2f}")
            print("   spans (first, last, held):", s["spans"])
            print("   stitch:", {k: v for k, v in s["stitch"].items() if v})
    return 0


if __name__ == "__main__":
    sys.exit(main())
