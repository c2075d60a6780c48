"""Print the feature taps of the derived landmark model and check them on a video's crops.

    PYTHONPATH=src python scripts/show_taps.py [VIDEO] [--frames N] [--threads N]

Lists the tapped tensors (index, name, shape, from the interpreter's ``get_output_details()``),
then runs the original and the tapped landmark model on the detector's crops of every 10th frame
and reports whether the five original outputs are bit-identical, the token shapes and value ranges.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from unveil.detect import blazepose as bp
from unveil.detect.taps import TAPS
from unveil.io.video import iter_frames


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("video", nargs="?", default="media/vtest.avi")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1, help="interpreter threads")
    a = ap.parse_args(argv)
    plain = bp.LandmarkModel(num_threads=a.threads)
    tapped = bp.LandmarkModel(num_threads=a.threads, taps=True)
    det = bp.PoseDetector(num_threads=a.threads)
    for d in tapped.it.get_output_details():
        tap = next((t.token for t in TAPS if t.index == d["index"]), "(original output)")
        print(f"output {d['index']:>4} {tuple(int(s) for s in d['shape'])!s:<18} {tap:<18} {d['name']}")
    n = same = 0
    lo, hi = {}, {}
    for _, img in iter_frames(a.video, max_frames=a.frames, stride=10):
        for dt in det(img):
            roi = dt.roi()
            plain(img, roi)
            lm = tapped(img, roi)
            n += 1
            same += all(np.array_equal(plain.it.get_tensor(i), tapped.it.get_tensor(tapped.out[k]))
                        for k, i in plain.out.items())
            for k, v in lm.tokens.items():
                lo[k] = min(lo.get(k, np.inf), float(v.min()))
                hi[k] = max(hi.get(k, -np.inf), float(v.max()))
    print(f"{a.video}: {n} detector crops, original outputs bit-identical on {same}/{n} "
          f"({a.threads} interpreter thread(s))")
    for t in TAPS:
        if t.token in lo:
            print(f"token {t.token}: range [{lo[t.token]:.3f}, {hi[t.token]:.3f}]")
    return 0 if same == n else 1


if __name__ == "__main__":
    sys.exit(main())
