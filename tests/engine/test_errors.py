"""Every error the engine raises on purpose shares one base, so callers catch it once."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import voicelab.engine
from voicelab.engine.errors import EngineError


def _engine_exceptions() -> list[type[BaseException]]:
    found = []
    for module_info in pkgutil.iter_modules(voicelab.engine.__path__, "voicelab.engine."):
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found.append(value)
    return found


def test_every_error_the_engine_defines_is_an_engine_error() -> None:
    exceptions = _engine_exceptions()
    assert len(exceptions) >= 10  # the walk found the modules
    assert [e.__qualname__ for e in exceptions if not issubclass(e, EngineError)] == []
