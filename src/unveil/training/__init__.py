"""Training recipes (offline: the runtime never imports this package; `unveil train NAME`,
table in :mod:`unveil.train`). ``fit``: the ARTS models, the evidence fit's pose prior and keypoint
offsets."""
