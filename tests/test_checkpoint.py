"""The one checkpoint format (:mod:`unveil.checkpoint`): save, load, and the errors of a mismatch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from unveil.checkpoint import CheckpointError, load_pretrained_model, read_checkpoint, save_checkpoint


def _net(c):
    return nn.Sequential(nn.Linear(c["n"], 2), nn.ReLU(), nn.Linear(2, 1))


def test_roundtrip_keeps_tensors_bit_for_bit(tmp_path):
    torch.manual_seed(0)
    a = _net({"n": 3})
    p = tmp_path / "w.pt"
    save_checkpoint(p, "toy", {"n": 3}, {k: v.half() for k, v in a.state_dict().items()}, {"seed": 0})
    ck = read_checkpoint(p, "toy")
    assert set(ck) == {"arch", "config", "state", "meta"} and ck["meta"] == {"seed": 0}
    assert all(v.dtype == torch.float16 for v in ck["state"].values())
    b, _ = load_pretrained_model(p, "toy", _net)
    assert not b.training
    for k, v in b.state_dict().items():
        assert v.dtype == torch.float32 and torch.equal(v, a.state_dict()[k].half().float())
    assert not list(tmp_path.glob(".*"))  # written atomically, no temporary left


def test_mismatches_are_one_clear_error(tmp_path):
    p = tmp_path / "w.pt"
    save_checkpoint(p, "toy", {"n": 3}, _net({"n": 3}).state_dict())
    with pytest.raises(CheckpointError, match="'toy' checkpoint, expected 'other'"):
        load_pretrained_model(p, "other", _net)
    state = _net({"n": 3}).state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["2.bias"]
    save_checkpoint(p, "toy", {"n": 3}, state)
    with pytest.raises(CheckpointError) as e:
        load_pretrained_model(p, "toy", _net)
    assert "missing keys ['2.bias']" in str(e.value) and "unexpected keys ['extra.weight']" in str(e.value)
    torch.save(_net({"n": 3}).state_dict(), p)  # an old flat layout
    with pytest.raises(CheckpointError, match="not an unveil checkpoint"):
        read_checkpoint(p)
    with pytest.raises(ValueError):
        save_checkpoint(p, "toy", {}, {"a": 1})


def test_prefix_loads_one_of_several_states(tmp_path):
    a, b = _net({"n": 2}), _net({"n": 2})
    p = tmp_path / "w.pt"
    save_checkpoint(p, "pair", {"n": 2}, {**{f"a.{k}": v for k, v in a.state_dict().items()},
                                          **{f"b.{k}": v for k, v in b.state_dict().items()}})
    m, _ = load_pretrained_model(p, "pair", _net, prefix="b.")
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in m.state_dict().items())
