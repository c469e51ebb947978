"""User-facing errors: the CLI prints their message on one line and exits with code 2."""


class EntitySAMError(Exception):
    """An error caused by user input (bad file, bad option, bad checkpoint).

    The command line prints ``error: <message>`` without a traceback and exits with code 2.
    """


class CheckpointError(EntitySAMError):
    """A checkpoint cannot be read or does not fit the model."""
