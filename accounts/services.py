"""The language a person reads the lab in: chosen once, remembered for their account."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from accounts.models import Preferences


class UnknownLanguage(ValueError):
    """A language the lab is not translated into."""


def choose_language(*, user: AbstractBaseUser | None, language: str) -> str:
    """Remember ``language`` for ``user`` (for nobody when anonymous: the cookie carries it)."""
    if language not in dict(settings.LANGUAGES):
        raise UnknownLanguage(language)
    if user is not None and user.is_authenticated:
        Preferences.objects.update_or_create(user=user, defaults={"language": language})
    return language
