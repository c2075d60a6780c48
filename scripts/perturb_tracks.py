"""Do the 2D tracks survive imperceptible changes of the pixels? (issue 14; docs/frontend.md "Seventh pass")

Runs the front end (``detect.people.track_video``, what ``unveil run`` does, default options) on each
video as it is and under five changes no viewer would notice: every pixel one level brighter / darker,
the frame shifted one pixel right / down (edge row repeated), and independent noise of -1/0/+1 level
per pixel (seeded by the frame index). Prints per run the tracks as (first frame, last frame, frames
held, median hip x, median box height), so a person split into pieces or lost early shows.

    PYTHONPATH=src .venv/bin/python scripts/perturb_tracks.py media/pose2sim_multi/cam0{1,2,3,4}.mp4 [--frames N]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from unveil.bench.perturb import KINDS, perturbed_front_end
from unveil.detect import people

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--frames", type=int, default=None, help="first N frames (default: all)")
    a = ap.parse_args(argv)
    for vid in a.videos:
        for kind in KINDS:
            with perturbed_front_end(kind):
                tracks = people.track_video(vid, max_frames=a.frames)
            spans = sorted((int(t.frames[0]), int(t.frames[-1]), int(np.asarray(t.extras["held"]).sum()),
                            int(np.nanmedian(t.keypoints[:, 23, 0])),
                            int(np.nanmedian(t.boxes[:, 3] - t.boxes[:, 1]))) for t in tracks)
            print(f"{vid} {kind}: {len(tracks)} tracks {spans}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
