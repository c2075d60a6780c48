"""Training recipes (offline: the runtime never imports this package; `unveil train NAME`,
table in :mod:`unveil.train`). One module per model, beside the model's runtime file:
``tcn`` (motion/tcn.py), ``lift`` (motion/lift.py: LSTM, dual-stream), ``occlusion``, ``predict``,
``fusion``, ``perframe``, ``moro`` (motion/masked.py), ``ropetp`` (trajectory/diffusion.py),
``render_lift`` (the LSTM fine-tuned on rendered detector output), ``fit`` (the ARTS models, the
evidence fit's pose prior and keypoint offsets); ``windows``: the synthetic window samplers the
MoPO recipes share."""
