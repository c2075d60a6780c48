"""The shared lifter training loop runs on stand-in windows and lowers the loss."""

import torch

from unveil.data import synth2d
from unveil.motion import lift
from unveil.training import windows
from unveil.training.lift import train_steps


def test_train_steps_lowers_the_window_loss():
    torch.manual_seed(0)
    clip = synth2d.standin_clip(90)
    batch = windows._stack(synth2d.training_windows(window=16, n=16, seed=0, kinds=("none",), clips=[clip]))
    model = lift.LSTMLifter()
    x = torch.as_tensor(windows.features(batch))
    y = torch.as_tensor(windows.root_relative(batch["joints_cam"]))
    with torch.no_grad():
        before = float(lift.mpjpe(model(x), y))
    train_steps(model, lambda: batch, steps=30, lr=3e-3, tag="test", log=lambda *_: None)
    assert not model.training
    with torch.no_grad():
        after = float(lift.mpjpe(model(x), y))
    assert after < 0.8 * before
