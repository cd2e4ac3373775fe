"""Django's makemessages, also finding the engine's ``Message("...")`` templates.

The engine cannot import Django's gettext (it is framework-free): it writes its sentences for
people as ``Message(text, values)`` and marks the others with its own ``gettext_noop``, which
Django's keywords already cover. Extending ``xgettext_options`` is the way Django documents.
"""

from typing import ClassVar

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options: ClassVar[list[str]] = [*makemessages.Command.xgettext_options, "--keyword=Message:1"]
