import pytest

from unveil.errors import UnveilError
from unveil.train import TRAINERS, main


def test_train_lists_and_rejects_unknown(capsys):
    assert main([]) == 0
    assert "mopo-predict" in capsys.readouterr().out
    with pytest.raises(UnveilError):
        main(["no-such-model"])
    assert all(":" in t for t in TRAINERS.values())
