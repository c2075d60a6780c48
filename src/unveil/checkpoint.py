"""The one checkpoint format of every shipped network (``src/unveil/weights/*.pt``).

A checkpoint is a dict with exactly four keys, written with ``torch.save`` and read with
``torch.load(..., weights_only=True)`` (tensors, numbers, strings, lists, tuples and dicts only:
loading runs no code):

- ``"arch"``: the network's name (``"tcn_lifter"``, ``"tik"``, ...); a loader refuses another one;
- ``"config"``: the constructor arguments of the network (plain values);
- ``"state"``: the ``state_dict`` (parameters and buffers; float16 where the card says so, cast to
  the network's dtype by ``load_state_dict``);
- ``"meta"``: provenance (seed, steps, validation numbers, training time, ...), never needed to load.

:func:`load_pretrained_model` is the only loader: it checks the format and the arch, builds the
network from the config and loads the state, and fails with one line that lists the missing and
unexpected keys when the two do not match. :func:`save_checkpoint` is what training recipes write.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .atomic import atomic_path
from .errors import UnveilError

KEYS = ("arch", "config", "state", "meta")


class CheckpointError(UnveilError):
    """A weight file that is not in the checkpoint format or does not fit its network."""


def save_checkpoint(path, arch: str, config: dict, state: dict, meta: dict | None = None) -> None:
    """Write ``{"arch", "config", "state", "meta"}`` to ``path`` atomically.

    Args:
        arch: the network's name. config: its constructor arguments. state: name -> tensor (a
            ``state_dict``; tensors are detached and cloned). meta: provenance (plain values).

    Raises:
        ValueError: a state value is not a tensor.
    """
    bad = [k for k, v in state.items() if not torch.is_tensor(v)]
    if bad:
        raise ValueError(f"checkpoint state values must be tensors, not {bad[:3]}")
    ck = {"arch": str(arch), "config": dict(config), "state": {k: v.detach().clone() for k, v in state.items()},
          "meta": dict(meta or {})}
    with atomic_path(path) as tmp:
        torch.save(ck, tmp)


def read_checkpoint(path, arch: str | None = None) -> dict:
    """``torch.load(path, weights_only=True)`` and check the format (and the arch, if given).

    Raises:
        FileNotFoundError: no such file. CheckpointError: another layout or another network.
        pickle.UnpicklingError: the file holds objects other than plain data ("Weights only load failed").
    """
    ck = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ck, dict) or set(ck) != set(KEYS):
        got = sorted(ck)[:8] if isinstance(ck, dict) else type(ck).__name__
        raise CheckpointError(f"{path}: not an unveil checkpoint (want keys {list(KEYS)}, got {got}; "
                              "an old layout: run scripts/migrate_checkpoints.py)")
    if arch is not None and ck["arch"] != arch:
        raise CheckpointError(f"{path}: a {ck['arch']!r} checkpoint, expected {arch!r}")
    return ck


def load_pretrained_model(path, arch: str, build: Callable[[dict], nn.Module], prefix: str = ""
                          ) -> tuple[nn.Module, dict]:
    """The network of a checkpoint, in eval mode.

    Args:
        path: the weight file. arch: the expected ``"arch"``.
        build: ``config -> network`` (the constructor call).
        prefix: load only the state entries under ``prefix`` (e.g. ``"temporal."``), with it removed.

    Returns:
        (network, checkpoint dict).

    Raises:
        CheckpointError: wrong format or arch, or keys missing / unexpected (both listed).
    """
    ck = read_checkpoint(path, arch)
    model = build(ck["config"])
    state = {k[len(prefix):]: v for k, v in ck["state"].items() if k.startswith(prefix)}
    res = model.load_state_dict(state, strict=False)
    if res.missing_keys or res.unexpected_keys:
        raise CheckpointError(f"{path}: the {arch!r} checkpoint does not fit the network: missing keys "
                              f"{res.missing_keys[:8]}, unexpected keys {res.unexpected_keys[:8]}")
    return model.eval(), ck


__all__ = ["KEYS", "CheckpointError", "save_checkpoint", "read_checkpoint", "load_pretrained_model"]
