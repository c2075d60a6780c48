"""Root trajectory: camera-space translation (camera.py) and a gravity-aligned world frame (world.py)."""
