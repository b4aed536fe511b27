"""The one error type of rigbot's recording readers (no imports: every recording module can raise it)."""


class RecordingError(ValueError):
    """A recording rigbot cannot read; the message names the file and what is wrong."""
