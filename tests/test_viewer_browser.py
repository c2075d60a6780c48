"""viewer.html in a real headless browser (Debian ``chromium``): the 3D page renders the body where
expected, with no JavaScript error. Skips when no chromium binary or no cached three.js is found."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from test_viewer import need_three

from unveil.io.viewer import write_viewer

# an approximate SMPL-24 standing pose (metres, Y up, feet on y = 0, facing +z)
STAND = np.array([
    [0, .95, 0], [.09, .86, 0], [-.09, .86, 0], [0, 1.05, 0], [.10, .50, 0], [-.10, .50, 0],
    [0, 1.18, 0], [.11, .08, 0], [-.11, .08, 0], [0, 1.24, 0], [.12, .02, .12], [-.12, .02, .12],
    [0, 1.45, 0], [.08, 1.38, 0], [-.08, 1.38, 0], [0, 1.62, .03], [.18, 1.40, 0], [-.18, 1.40, 0],
    [.42, 1.40, 0], [-.42, 1.40, 0], [.66, 1.40, 0], [-.66, 1.40, 0], [.74, 1.40, 0], [-.74, 1.40, 0]])


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def scene_tracks():
    """Person 0 at the origin (swaying 2 cm per frame), person 1 two metres to its right, 10 frames;
    person 0's left wrist and hand are inferred in every frame."""
    T = 10
    sway = np.zeros((T, 1, 3))
    sway[:, 0, 0] = 0.02 * np.arange(T)
    obs = np.ones((T, 24), bool)
    obs[:, [20, 22]] = False
    return {0: (np.arange(T), STAND[None] + sway, obs),
            1: (np.arange(T), STAND[None] + sway + [2.0, 0, 0], None)}


# the video camera 4 m in front of the origin at 1.5 m height, looking at -z (OpenCV axes)
CAMERA = (np.diag([1.0, -1.0, -1.0]), np.array([0.0, 1.5, 4.0]))


def _need_browser_and_three():
    if chromium() is None:
        pytest.skip("no chromium binary (Debian: apt-get install chromium)")
    need_three()


def render(page: Path, png: Path, size=(800, 600), fragment: str = "") -> tuple[str, str]:
    """Headless screenshot and DOM dump of ``page`` (+ ``#fragment``); returns (dom, stderr)."""
    exe = chromium()
    common = [exe, "--headless", "--disable-gpu", "--no-sandbox", "--use-angle=swiftshader",
              "--enable-unsafe-swiftshader", "--hide-scrollbars", f"--window-size={size[0]},{size[1]}",
              "--virtual-time-budget=3000", "--enable-logging=stderr", "--v=0"]
    r = subprocess.run(common + [f"--screenshot={png}", page.as_uri() + fragment], capture_output=True, text=True,
                       timeout=120)
    assert png.exists(), r.stderr[-2000:]
    d = subprocess.run(common + ["--dump-dom", page.as_uri() + fragment], capture_output=True, text=True, timeout=120)
    return d.stdout, r.stderr + d.stderr


def test_viewer_renders_in_chromium(tmp_path):
    _need_browser_and_three()
    page, png = tmp_path / "viewer.html", tmp_path / "viewer.png"
    assert write_viewer(page, scene_tracks(), fps=10.0, camera=CAMERA, title="browser test") is True
    dom, log = render(page, png, fragment="#frame=3")   # opens paused at frame 3: a fixed image
    assert "frame 3 / 9" in dom and '<button id="play">play</button>' in dom
    errors = re.search(r'<pre id="errors"[^>]*>(.*?)</pre>', dom, re.S)
    assert errors is not None and errors.group(1).strip() == "", errors.group(1) if errors else dom[-2000:]
    console = [ln for ln in log.splitlines() if "CONSOLE" in ln]
    assert not [ln for ln in console if "Uncaught" in ln or "Error" in ln], console
    assert int(re.search(r'data-rendered="(\d+)"', dom).group(1)) >= 1
    assert len(re.findall(r'</span>person #\d+ \(\d+ frames\)</label>', dom)) == 2   # the person list
    # the mesh and video toggles are hidden (neither given), the skeleton one shows
    assert re.search(r'<label id="mesh-row" style="display: none;">', dom)
    assert re.search(r'<label id="video-row" style="display: none;">', dom)
    from PIL import Image

    # rows below the text overlays and above the control bar
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)[80:-40]
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    W = img.shape[1]
    masks = {"red": (r > 110) & (r > g + 60) & (r > b + 30),          # person 0: #e6194b, lit
             "green": (g > 100) & (g > r + 40) & (g > b + 30),        # person 1: #3cb44b, lit
             "white": (r > 200) & (g > 200) & (b > 200),              # inferred joints
             "yellow": (r > 150) & (g > 120) & (b < 110) & (r - g < 80)}  # camera frustum
    n = {k: int(m.sum()) for k, m in masks.items()}
    x = {k: float(np.median(np.nonzero(m)[1])) if m.any() else -1.0 for k, m in masks.items()}
    # measured at 800x600, frame 3 (chromium 150, swiftshader; two runs identical): red 1859 px at
    # median x 297, green 2090 px at x 501, white 204 px at x 366 (person 0's left wrist and hand,
    # right of its red bones, which end at x 356), yellow 1529 px at x 89; bounds: about half the
    # counts, the image halves / quarter for x
    assert n["red"] > 900 and n["green"] > 1000 and n["white"] > 100 and n["yellow"] > 700, n
    assert x["red"] < W / 2 < x["green"] and x["yellow"] < W / 4, x
    red_x = np.nonzero(masks["red"])[1]
    assert red_x.max() - 20 < x["white"] < red_x.max() + 40, (x, red_x.max())


def test_browser_check_catches_a_script_error(tmp_path):
    """Negative control: the two error channels above do see an error thrown by the page's code."""
    _need_browser_and_three()
    page, png = tmp_path / "viewer.html", tmp_path / "viewer.png"
    write_viewer(page, scene_tracks(), fps=10.0, camera=CAMERA)
    text = page.read_text()
    assert "const NJ = D.parents.length;" in text
    page.write_text(text.replace("const NJ = D.parents.length;", "const NJ = D.parents.length; notDefined();"))
    dom, log = render(page, png)
    assert "Uncaught ReferenceError: notDefined" in re.search(r'<pre id="errors"[^>]*>(.*?)</pre>', dom, re.S).group(1)
    assert any("CONSOLE" in ln and "Uncaught ReferenceError" in ln for ln in log.splitlines())
    assert "data-rendered" not in dom


def test_fallback_2d_viewer_renders_in_chromium(tmp_path):
    """The 2D-canvas page (what a machine without the cached three.js gets) draws both people."""
    if chromium() is None:
        pytest.skip("no chromium binary (Debian: apt-get install chromium)")
    page, png = tmp_path / "viewer.html", tmp_path / "viewer.png"
    assert write_viewer(page, scene_tracks(), fps=10.0, camera=CAMERA, three_js=None) is False
    dom, log = render(page, png)
    assert re.search(r'<pre id="errors"[^>]*>(.*?)</pre>', dom, re.S).group(1).strip() == ""
    assert not [ln for ln in log.splitlines() if "CONSOLE" in ln and ("Uncaught" in ln or "Error" in ln)]
    assert re.search(r'<span id="lbl">frame \d / 9</span>', dom)
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB")).astype(int)[80:-40]
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    red = (r > 110) & (r > g + 60) & (r > b + 30)
    green = (g > 100) & (g > r + 40) & (g > b + 30)
    # measured (800x600, chromium 150): red 1975 px at median x 310, green 969 px at x 464 (no
    # observed flags: lines only, no dots); bounds: about half the counts, red left of green
    assert red.sum() > 900 and green.sum() > 450, (red.sum(), green.sum())
    assert np.median(np.nonzero(red)[1]) < np.median(np.nonzero(green)[1])


def test_viewer_draws_the_body_meshes_in_chromium(tmp_path):
    """The skinned meshes of two Anny people (test_viewer_mesh.anny_people) render where their
    skeletons are, each only while tracked, with no error: mesh-only and skeleton-only screenshots
    of the same frame, and a frame where only one person is tracked."""
    _need_browser_and_three()
    from test_viewer_mesh import anny_people, need_loader

    from assets import need_anny
    from unveil.io.exports import write_exports

    need_loader()
    model = need_anny()
    bodies, _, _ = anny_people(model)
    assert write_exports(tmp_path, bodies, model, fps=10.0, glb=False, bvh=False, trc=False,
                         scene=False)["files"] == ["viewer.html"]
    page = tmp_path / "viewer.html"
    from PIL import Image

    def shot(fragment):
        png = tmp_path / f"{fragment.replace('&', '_').replace('=', '')}.png"
        dom, log = render(page, png, fragment="#" + fragment)
        errors = re.search(r'<pre id="errors"[^>]*>(.*?)</pre>', dom, re.S).group(1).strip()
        assert errors == "", errors
        assert not [ln for ln in log.splitlines() if "CONSOLE" in ln and ("Uncaught" in ln or "rror" in ln)], log
        assert 'data-meshes="2"' in dom, re.search(r"<body[^>]*>", dom).group(0)
        img = np.asarray(Image.open(png).convert("RGB")).astype(int)[80:-40, :560]   # left of the person list
        r, g, b = img[..., 0], img[..., 1], img[..., 2]
        # person 2 (listed first: red #e6194b), person 7 (green #3cb44b); the mesh is the colour
        # lerped 25% to white, lit
        m = {"red": (r > 110) & (r > g + 50) & (r > b + 25), "green": (g > 90) & (g > r + 20) & (g > b + 15)}
        return {k: int(v.sum()) for k, v in m.items()}, {k: np.median(np.argwhere(v), 0) if v.any() else None
                                                          for k, v in m.items()}

    mesh_n, mesh_c = shot("frame=5&skeleton=0")
    bone_n, bone_c = shot("frame=5&mesh=0")
    only_n, _ = shot("frame=1&skeleton=0")       # person 2 starts at frame 4
    # measured (800x600, chromium 150, swiftshader): frame 5 mesh only red 7244 / green 5904 px,
    # skeleton only 2483 / 2147 px (mesh 2.9x / 2.75x the skeleton), medians (row, col) of mesh vs
    # skeleton pixels 2-6 px apart; frame 1 mesh only: red 0, green 6012. Bounds: mesh > 2x the
    # skeleton, medians within 25 px, red < 20 px and green > half its frame-5 count at frame 1
    for k in ("red", "green"):
        assert mesh_n[k] > 2 * bone_n[k] and bone_n[k] > 1000, (mesh_n, bone_n)
        assert np.abs(mesh_c[k] - bone_c[k]).max() < 25, (k, mesh_c, bone_c)   # the mesh is on its skeleton
    assert only_n["red"] < 20 and only_n["green"] > 0.5 * mesh_n["green"], only_n


def test_viewer_shows_the_video_still_on_the_frustum(tmp_path):
    """A still (left half blue, right half magenta) on the frustum's image plane (the left quarter of
    the screen, where the frustum is), not mirrored (blue left of magenta: the view looks the way
    the camera does), gone with #video=0; no error."""
    _need_browser_and_three()
    import cv2
    from PIL import Image

    bgr = np.zeros((90, 160, 3), np.uint8)
    bgr[:, :80] = (255, 40, 0)      # blue
    bgr[:, 80:] = (255, 0, 255)     # magenta
    ok, jpg = cv2.imencode(".jpg", bgr)
    page = tmp_path / "viewer.html"
    write_viewer(page, scene_tracks(), fps=10.0, camera=(*CAMERA, 60.0, 16 / 9), stills={0: jpg.tobytes(), 6: jpg.tobytes()})
    counts = {}
    for frag in ("frame=3", "frame=3&video=0"):
        png = tmp_path / f"{frag.replace('&', '_')}.png"
        dom, log = render(page, png, fragment="#" + frag)
        assert re.search(r'<pre id="errors"[^>]*>(.*?)</pre>', dom, re.S).group(1).strip() == ""
        assert not [ln for ln in log.splitlines() if "CONSOLE" in ln and ("Uncaught" in ln or "rror" in ln)], log
        img = np.asarray(Image.open(png).convert("RGB")).astype(int)[80:-40]
        r, g, b = img[..., 0], img[..., 1], img[..., 2]
        for name, m in (("blue", (b > 150) & (r < 90) & (g < 110)), ("magenta", (r > 150) & (b > 150) & (g < 90))):
            counts[frag, name] = (int(m.sum()), float(np.median(np.nonzero(m)[1])) if m.any() else -1.0)
    # measured (800x600, chromium 150): blue 6344 px at median x 72, magenta 6705 px at x 149 (the
    # frustum's lines are around x 89), none with #video=0; bounds: about half the counts, blue left
    # of magenta, both in the left quarter, under 20 px without the video
    (nb, xb), (nm, xm) = counts["frame=3", "blue"], counts["frame=3", "magenta"]
    assert nb > 3000 and nm > 3000 and xb < xm < 800 / 4, counts
    assert counts["frame=3&video=0", "blue"][0] < 20 and counts["frame=3&video=0", "magenta"][0] < 20, counts
