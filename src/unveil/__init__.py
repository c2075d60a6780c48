"""unveil: video of people -> per-person 3D body meshes and motion, robust to occlusion, on CPU."""

__version__ = "0.1.0"
