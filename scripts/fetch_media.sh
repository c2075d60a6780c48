#!/usr/bin/env bash
# Fetch the real test videos used by the front-end acceptance checks into media/ (gitignored; never
# commit them): vtest.avi (OpenCV's pedestrian clip, Debian package opencv-doc) and one single-person
# calibrated demo video from the PyPI wheel pose2sim (Demo_SinglePerson/videos/cam01.mp4), and the
# pose2sim multi-person demo (Demo_MultiPerson: videos/cam01-04.mp4 + calibration/Calib.qca.txt) into
# media/pose2sim_multi/ for `unveil bench multiview` (the wheel's Demo_SinglePerson is kept as an
# independent acceptance check: only its cam01 is fetched here, nothing is tuned on it).
# Usage: scripts/fetch_media.sh [vtest] [single] [multi]   (no argument: all three)
# Idempotent: files already present are kept. POSE2SIM_WHL=path uses a local copy of the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p media
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
POSE2SIM_VERSION=0.10.49   # Demo_MultiPerson is pinned to this wheel (the bench's numbers were measured on it)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
WANT=" ${*:-vtest single multi} "
want() { [[ "$WANT" == *" $1 "* ]]; }
if want vtest && [ ! -s media/vtest.avi ]; then
  (cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1) || { echo "apt-get download opencv-doc failed (try: apt-get update)" >&2; exit 1; }
  dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb | tar -xO ./usr/share/doc/opencv-doc/examples/data/vtest.avi > "$tmp/vtest.avi"
  mv "$tmp/vtest.avi" media/vtest.avi
fi
if want single && [ ! -s media/pose2sim_single_cam01.mp4 ]; then
  "$PY" -m pip download -q --no-deps pose2sim -d "$tmp" >/dev/null
  "$PY" - "$tmp" <<'PYEOF'
import glob, sys, zipfile, os
whl = glob.glob(os.path.join(sys.argv[1], "pose2sim-*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    data = z.read("Pose2Sim/Demo_SinglePerson/videos/cam01.mp4")
open("media/.pose2sim.tmp", "wb").write(data)
os.replace("media/.pose2sim.tmp", "media/pose2sim_single_cam01.mp4")
PYEOF
fi
MULTI="cam01.mp4 cam02.mp4 cam03.mp4 cam04.mp4 Calib.qca.txt"
need_multi=0
for f in $MULTI; do [ -s "media/pose2sim_multi/$f" ] || need_multi=1; done
if want multi && [ "$need_multi" = 1 ]; then
  whl=${POSE2SIM_WHL:-}
  if [ -z "$whl" ]; then
    "$PY" -m pip download -q --no-deps "pose2sim==$POSE2SIM_VERSION" -d "$tmp/multi" >/dev/null
    whl=$(ls "$tmp"/multi/pose2sim-*.whl)
  fi
  "$PY" - "$whl" <<'PYEOF'
import os, sys, zipfile
os.makedirs("media/pose2sim_multi", exist_ok=True)
src = {f"cam0{i}.mp4": f"Pose2Sim/Demo_MultiPerson/videos/cam0{i}.mp4" for i in range(1, 5)}
src["Calib.qca.txt"] = "Pose2Sim/Demo_MultiPerson/calibration/Calib.qca.txt"
with zipfile.ZipFile(sys.argv[1]) as z:
    for name, member in src.items():
        dst = os.path.join("media/pose2sim_multi", name)
        if os.path.exists(dst) and os.path.getsize(dst) > 0:
            continue
        open(dst + ".tmp", "wb").write(z.read(member))
        os.replace(dst + ".tmp", dst)
PYEOF
fi
want vtest && ls -l media/vtest.avi
want single && ls -l media/pose2sim_single_cam01.mp4
want multi && ls -l media/pose2sim_multi/
exit 0
