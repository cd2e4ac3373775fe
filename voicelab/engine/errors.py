"""The one base of every error meant for a person.

Whatever derives from ``EngineError`` has a message that says what is wrong and, where
it can, what to do: callers show ``str(exc)`` as it is (a CLI line, a run's error, a
page's message). Anything else a stage raises is a bug, and is logged with its traceback.
"""

from __future__ import annotations


class EngineError(Exception):
    """A problem a person can put right; the message says what and how."""


# What a stage may fail with that its message explains: the engine's errors, and the
# system's (a full disk, a file that went away), which name the file and the reason.
CLEAR_ERRORS: tuple[type[Exception], ...] = (EngineError, OSError)
