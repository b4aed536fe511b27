"""``python -m rigbot.cli``: the ``rigbot`` command."""
from rigbot.cli import run

run()
