#!/usr/bin/env bash
# Fetch the real test videos used by the front-end acceptance checks into media/ (gitignored; never
# commit them): vtest.avi (OpenCV's pedestrian clip, Debian package opencv-doc) and one single-person
# calibrated demo video from the PyPI wheel pose2sim (Demo_SinglePerson/videos/cam01.mp4).
# Idempotent: files already present are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p media
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if [ ! -s media/vtest.avi ]; then
  (cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1) || { echo "apt-get download opencv-doc failed (try: apt-get update)" >&2; exit 1; }
  dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb | tar -xO ./usr/share/doc/opencv-doc/examples/data/vtest.avi > "$tmp/vtest.avi"
  mv "$tmp/vtest.avi" media/vtest.avi
fi
if [ ! -s media/pose2sim_single_cam01.mp4 ]; then
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
ls -l media/vtest.avi media/pose2sim_single_cam01.mp4
