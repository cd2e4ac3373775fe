import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand

from labeling.roles import OPERATORS

ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = "Prepare a lab: apply migrations, load the built-in corpus, and create the first operator."

    def handle(self, *args: object, **options: object) -> None:
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("load_corpus", stdout=self.stdout, stderr=self.stderr)
        self._first_operator()

    def _first_operator(self) -> None:
        """On a fresh lab, create ``admin`` with a one-time password and print it once."""
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        admin = users.objects.create_superuser(ADMIN_USERNAME, email="", password=password)
        admin.groups.add(Group.objects.get(name=OPERATORS))
        self.stdout.write(
            self.style.SUCCESS(
                "\n  First start: log in as “admin” with the password  "
                f"{password}\n  (shown only now; change it in the admin, and add annotators there).\n"
            )
        )
