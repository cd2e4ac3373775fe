from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from labeling.services.exchange import write_export_zip


class Command(BaseCommand):
    help = "Write labels and validated takes as a zip (seed JSON + LJSpeech metadata.csv + wavs/)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: object, path: Path, **options: object) -> None:
        with path.open("wb") as target:
            count = write_export_zip(target)
        self.stdout.write(f"Wrote {path} with {count} recordings.")
