"""User-facing errors: the CLI prints ``str(err)`` on one line and exits non-zero."""


class UnveilError(Exception):
    """An error caused by the user's input or environment (bad file, missing asset, ...)."""

    exit_code = 2


class MissingAssetError(UnveilError):
    """A model file / cache that setup should have produced is missing."""

    exit_code = 3
