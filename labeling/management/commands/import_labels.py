from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.services.exchange import ExchangeError, import_export
from labeling.tasks import queue_validations


class Command(BaseCommand):
    help = "Import a Voice Lab export (.zip or .json): labels, and takes whose audio it carries."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: object, path: Path, **options: object) -> None:
        try:
            result = import_export(data=path.read_bytes(), user=None)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from None
        except ExchangeError as exc:
            raise CommandError("Nothing was imported:\n- " + "\n- ".join(exc.problems)) from None
        self.stdout.write(f"{result.labels_changed} labels changed, {result.takes_added} takes added.")
        queued = queue_validations(result.take_ids)
        if result.takes_added:
            self.stdout.write(f"{queued} of them queued for validation.")
        if queued < result.takes_added:
            self.stderr.write(
                self.style.WARNING("The validation queue cannot be reached: the sweep queues the rest once it is back.")
            )
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(warning))
