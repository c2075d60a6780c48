import os
import stat

import numpy as np
import pytest

from unveil import atomic


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "a" / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_write_text_npz_and_mode(tmp_path):
    atomic.write_text(tmp_path / "x.txt", "hello")
    assert (tmp_path / "x.txt").read_text() == "hello"
    atomic.save_npz(tmp_path / "y.npz", a=np.arange(3))
    assert np.load(tmp_path / "y.npz")["a"].tolist() == [0, 1, 2]
    mode = stat.S_IMODE(os.stat(tmp_path / "x.txt").st_mode)
    assert mode & stat.S_IRGRP  # not the 0600 of mkstemp
