"""Joint (bone) names for the exported skeletons: SMPL's own, Mixamo's, or VRM's humanoid bones.

Retargeting tools match a humanoid by bone names: Blender add-ons (Rokoko, Auto-Rig Pro, "Mixamo"
presets), Unity's Humanoid avatar auto-mapping and Unreal's IK Retargeter auto-characterisation know
the Mixamo names (``mixamorig:Hips`` ...) and the VRM 1.0 humanoid bone names (``hips``,
``leftUpperLeg`` ...; VRMC_vrm ``humanoid.humanBones``), not SMPL's. The skeleton is the same
SMPL-24 hierarchy in every case (rest pose: T-pose, Y up, facing +Z); only the names change.
"Left" is the body's own left in all three (SMPL ``L_hip`` = Mixamo ``LeftUpLeg`` = VRM
``leftUpperLeg``). SMPL's ``L_hand``/``R_hand`` joint sits at the middle finger's first knuckle,
so it gets the middle-finger proximal bone name.
"""

from __future__ import annotations

from ..skeleton import SMPL24_NAMES

_MIXAMO = (
    "Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot", "RightFoot",
    "Spine2", "LeftToeBase", "RightToeBase", "Neck", "LeftShoulder", "RightShoulder", "Head", "LeftArm",
    "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand", "LeftHandMiddle1", "RightHandMiddle1",
)
_VRM = (
    "hips", "leftUpperLeg", "rightUpperLeg", "spine", "leftLowerLeg", "rightLowerLeg", "chest", "leftFoot",
    "rightFoot", "upperChest", "leftToes", "rightToes", "neck", "leftShoulder", "rightShoulder", "head",
    "leftUpperArm", "rightUpperArm", "leftLowerArm", "rightLowerArm", "leftHand", "rightHand",
    "leftMiddleProximal", "rightMiddleProximal",
)

RIG_NAMES: dict[str, tuple[str, ...]] = {
    "smpl": tuple(SMPL24_NAMES),
    "mixamo": tuple(f"mixamorig:{n}" for n in _MIXAMO),
    "vrm": _VRM,
}


def joint_names(rig: str = "smpl") -> tuple[str, ...]:
    """The 24 joint names (SMPL-24 order) of ``rig`` (``smpl`` | ``mixamo`` | ``vrm``).

    Raises:
        ValueError: for an unknown rig.
    """
    try:
        return RIG_NAMES[rig]
    except KeyError:
        raise ValueError(f"unknown rig names {rig!r} (one of: {', '.join(RIG_NAMES)})") from None


__all__ = ["RIG_NAMES", "joint_names"]
