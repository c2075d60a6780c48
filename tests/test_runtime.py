import torch

from unveil import runtime


def test_init_torch_sizes_once_and_respects_later_choices(monkeypatch):
    monkeypatch.setattr(runtime, "_configured", False)
    monkeypatch.setenv("UNVEIL_THREADS", "2")
    old = torch.get_num_threads()
    try:
        runtime.init_torch()
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)          # a stage's own choice ...
        runtime.init_torch()              # ... survives a later implicit call
        assert torch.get_num_threads() == 1
        runtime.init_torch(2)             # an explicit request always applies
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)
