from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from accounts.models import Preferences


def preferred_language(user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The language ``user`` chose, or None if they never chose one."""
    if not user.is_authenticated:
        return None
    return Preferences.objects.filter(user=user).values_list("language", flat=True).first()


def reading_language(*, user: AbstractBaseUser | AnonymousUser, cookie: str | None) -> str:
    """The language a person reads the lab in: the one their account chose, else the one their
    browser's cookie remembers (before logging in), else Spanish. The browser's Accept-Language
    is not consulted, on purpose: the lab is Spanish first, whatever the machine's browser was
    installed with."""
    chosen = preferred_language(user) or cookie
    return chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
