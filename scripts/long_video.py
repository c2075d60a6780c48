"""Write a long video for memory measurements (docs/batch.md): a short source clip played forward and
backward (ping-pong, so the people move continuously and the tracker keeps one track) until N frames,
as H.264 mp4 at the source's frame rate. Nothing is committed: the source is the demo's rendered clip
(``unveil --threads 1 demo -o DIR`` writes ``DIR/render/demo_*.mp4``) or ``media/vtest.avi``.

    PYTHONPATH=src .venv/bin/python scripts/long_video.py SOURCE OUT.mp4 10000

The source's frames are held in memory once (150 frames of 640x480: 138 MB), so use a short clip.
"""

from __future__ import annotations

import sys

from unveil.io.video import VideoWriter, iter_frames, probe


def main(src: str, out: str, n: int) -> None:
    if n < 1:
        raise SystemExit("N must be >= 1")
    frames = [rgb for _, rgb in iter_frames(src)]
    T = len(frames)
    period = max(2 * T - 2, 1)
    with VideoWriter(out, probe(src).fps) as w:
        for i in range(n):
            k = i % period
            w.write(frames[k if k < T else period - k])
    print(f"{out}: {n} frames from {T} source frames ({src})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
