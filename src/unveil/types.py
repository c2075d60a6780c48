"""Typed records passed between pipeline stages (one per stage boundary).

Arrays are numpy; shapes in the field comments (T frames, K keypoints, J=24 SMPL joints).
A newcomer can follow one frame: VideoInfo -> Track2D -> Track3D -> BodyTrack -> files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class VideoInfo:
    path: str
    fps: float
    width: int
    height: int
    n_frames: int | None = None  # None when the container does not say
    rotation: int = 0  # counter-clockwise degrees applied to make frames upright (0/90/180/270)


@dataclass
class Camera:
    """Pinhole intrinsics, OpenCV convention (x right, y down, z forward). Static camera."""

    focal: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def principal_point(self) -> np.ndarray:
        return np.array([self.cx, self.cy], dtype=np.float32)

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.focal, 0, self.cx], [0, self.focal, self.cy], [0, 0, 1]], dtype=np.float32)


@dataclass
class Track2D:
    """One person's 2D keypoints. ``keypoints`` are pixels + confidence in [0, 1]."""

    id: int
    frames: np.ndarray                 # (T,) int frame indices into the video
    keypoints: np.ndarray              # (T, K, 3) x, y, confidence
    layout: str = "coco17"             # "coco17" | "blazepose33"
    boxes: np.ndarray | None = None    # (T, 4) x0, y0, x1, y1 pixels
    world_landmarks: np.ndarray | None = None  # (T, 33, 3) BlazePose hip-centred metres, if any
    extras: dict = field(default_factory=dict)  # detector-specific per-frame evidence
    # image feature tokens of the tapped landmark model (unveil.detect.taps), only with
    # ``features=True``: name -> (T, ...) float16, zero on frames the person was not held
    features: dict | None = None


@dataclass
class Track3D:
    """Root-relative 3D joints of one person after occlusion handling / lifting / completion."""

    id: int
    frames: np.ndarray                 # (T,)
    joints: np.ndarray                 # (T, 24, 3) metres, camera axes, pelvis at origin
    occluded: np.ndarray               # (T, K) bool, per 2D keypoint (K of the 2D layout)
    confidence: np.ndarray | None = None  # (T, 24) in [0, 1], if the method gives one


@dataclass
class BodyTrack:
    """Body-model parameters and derived joints of one person (the output contract's npz)."""

    id: int
    frames: np.ndarray                 # (T,)
    global_orient: np.ndarray          # (T, 3) axis-angle, camera frame
    body_pose: np.ndarray              # (T, 23, 3) axis-angle, SMPL-24 local rotations
    transl: np.ndarray                 # (T, 3) metres, camera frame (root joint position)
    shape: np.ndarray                  # (S,) body-model shape parameters (one per track)
    joints_cam: np.ndarray             # (T, 24, 3)
    joints_world: np.ndarray | None = None  # (T, 24, 3) Y up
    body_model: str = "anny"
    # set by the evidence fit (unveil.fit.evidence); None without it
    keypoints3d_body: np.ndarray | None = None  # (T, 17, 3) camera-frame COCO-17 keypoints of the body
    observed: np.ndarray | None = None          # (T, 24) bool: a visible 2D keypoint drives the joint
    observed_weight: np.ndarray | None = None   # (T, 24) in [0, 1]: mean confidence x visibility of those keypoints
