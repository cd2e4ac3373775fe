from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    """What the lab keeps about a person beyond Django's user: the language they read it in."""

    name = "accounts"
    verbose_name = _("Accounts")
