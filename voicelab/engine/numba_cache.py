"""A private numba cache for every process, so no two processes ever write one at once.

librosa decorates some of its functions with ``@guvectorize(cache=True)`` and compiles
them when its modules are imported. Two processes compiling them into the same cache
folder at the same time can pair files from different compilations, and from then on
every process that loads them crashes with SIGSEGV (numba#10128, librosa#1998). A
warm-up at set-up does not prevent that: an upgrade, a new machine or a new virtualenv
path makes the cache cold again.

So each process takes a cache folder of its own, a *slot*, under one root (numba's own
``NUMBA_CACHE_DIR`` if the user set it, else a folder in the system's temporary
directory), and holds it with an exclusive lock for as long as it lives. A slot is
reused by later processes, so the cache stays warm across restarts; a slot whose last
owner did not exit cleanly (killed, perhaps while compiling) is emptied first, so a
half-written cache is never loaded. ``claim()`` runs when ``voicelab.engine`` is
imported, before anything imports numba; a process started from one that claimed a
slot (a spawned pool worker) claims its own.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO

CACHE_DIR_VARIABLE = "NUMBA_CACHE_DIR"
# "<pid>:<root>" of the process that set NUMBA_CACHE_DIR to its slot, so that a child
# inheriting the variable knows it is not its own.
OWNER_VARIABLE = "VOICELAB_NUMBA_CACHE_OWNER"
SLOT_PREFIX = "slot-"
IN_USE_MARK = "in-use"  # present while an owner runs; left behind if it died

_held: IO[str] | None = None


def claim() -> Path:
    """This process's private numba cache folder (claimed once per process)."""
    owner = os.environ.get(OWNER_VARIABLE, "")
    pid, _, root = owner.partition(":")
    if pid == str(os.getpid()) and _held is not None:
        return Path(os.environ[CACHE_DIR_VARIABLE])
    root_dir = Path(root) if root else _default_root()
    slot = _lock_free_slot(root_dir)
    os.environ[CACHE_DIR_VARIABLE] = str(slot)
    os.environ[OWNER_VARIABLE] = f"{os.getpid()}:{root_dir}"
    if "numba" in sys.modules:  # imported before us: point its configuration at the slot too
        sys.modules["numba"].config.CACHE_DIR = str(slot)
    return slot


def _default_root() -> Path:
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"voicelab-numba-{os.getuid()}"


def _lock_free_slot(root: Path) -> Path:
    """The first slot no live process holds, locked for the rest of this process's life."""
    global _held
    root.mkdir(parents=True, exist_ok=True)
    if _held is not None:  # a lock inherited from the parent by fork is the parent's
        _held.close()
        _held = None
    number = 0
    while True:
        slot = root / f"{SLOT_PREFIX}{number}"
        slot.mkdir(exist_ok=True)
        handle = open(slot.with_suffix(".lock"), "w")  # noqa: SIM115 - held until exit
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            number += 1
            continue
        _held = handle
        _take_over(slot)
        return slot


def _take_over(slot: Path) -> None:
    mark = slot / IN_USE_MARK
    if mark.exists():  # the last owner died without a clean exit: its cache may be half-written
        shutil.rmtree(slot)
        slot.mkdir()
    mark.write_text(str(os.getpid()))
    pid = os.getpid()
    atexit.register(_release, mark, pid)


def _release(mark: Path, pid: int) -> None:
    """On a clean exit of the owner (not of a forked child, which runs the same handlers)."""
    if os.getpid() == pid:
        mark.unlink(missing_ok=True)


def release() -> None:
    """Give the slot back now, as a clean exit would: for a process about to ``exec`` another
    program, which runs no exit handlers and keeps the pid its children would take for ours."""
    global _held
    if _held is None:
        return
    slot = Path(os.environ[CACHE_DIR_VARIABLE])
    (slot / IN_USE_MARK).unlink(missing_ok=True)
    _held.close()
    _held = None
    os.environ.pop(OWNER_VARIABLE, None)
    os.environ[CACHE_DIR_VARIABLE] = str(slot.parent)  # the root again, for the children to share out
