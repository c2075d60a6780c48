"""Skeleton sheet of DeepMimic clips (unveil.data.deepmimic) as a PNG, to look at the conversion.

    PYTHONPATH=src .venv/bin/python scripts/plot_deepmimic.py OUT.png crawl,cartwheel,getup_faceup,roll [FRAMES]

Per clip FRAMES (default 6) evenly spaced frames, each drawn twice with orthographic views: "side"
(world x-y) and "front" (world z-y), centred on the pelvis; left joints blue, right red, midline
black, face points green, the floor (y = 0) grey. Uses Pillow (a dependency of the project);
matplotlib is not installed.
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image, ImageDraw

from unveil.data import deepmimic
from unveil.skeleton import SMPL24_NAMES, SMPL24_PARENTS

W, H, SCALE = 180, 200, 80.0  # pixels per view, pixels per metre


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out, names = argv[0], argv[1].split(",")
    nf = int(argv[2]) if len(argv) > 2 else 6
    clips = {c.name: c for s in ("train", "eval") for c in deepmimic.load_split(s)}
    bad = [n for n in names if deepmimic.clip_name(n) not in clips]
    if bad:
        print(f"unknown clip(s) {', '.join(bad)} (known: {', '.join(deepmimic.MOTIONS)})", file=sys.stderr)
        return 2
    img = Image.new("RGB", (nf * 2 * W, len(names) * H), "white")
    d = ImageDraw.Draw(img)
    side = {i: (0, 0, 255) if n.startswith("L_") else (255, 0, 0) if n.startswith("R_") else (0, 0, 0)
            for i, n in enumerate(SMPL24_NAMES)}
    for r, n in enumerate(names):
        c = clips[deepmimic.clip_name(n)]
        J, F = np.asarray(c.joints), np.asarray(c.face)
        for k, t in enumerate(np.linspace(0, c.n_frames - 1, nf).astype(int)):
            for v, (ax, lab) in enumerate(((0, "side"), (2, "front"))):
                ox, oy, cx = (2 * k + v) * W, r * H, J[t, 0, ax]

                def P(p):
                    return (ox + W / 2 + (p[ax] - cx) * SCALE, oy + H - 15 - p[1] * SCALE)

                d.line([(ox, oy + H - 15), (ox + W, oy + H - 15)], fill=(150, 150, 150))
                for i, p in enumerate(SMPL24_PARENTS):
                    if p >= 0:
                        d.line([P(J[t, i]), P(J[t, p])], fill=side[i], width=2)
                for q in F[t]:
                    x, y = P(q)
                    d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=(0, 160, 0))
                d.text((ox + 3, oy + 2), f"{n} t={t} {lab}", fill=(0, 0, 0))
            d.line([(2 * k * W, r * H), (2 * k * W, (r + 1) * H)], fill=(200, 200, 200))
    img.save(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
