"""``python manage.py fetch_models``: assemble the Kokoro assets into VOICELAB_MODELS_DIR."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from voicelab.engine.assets import DEFAULT_VOICES
from voicelab.engine.errors import CLEAR_ERRORS
from voicelab.engine.provisioning import ALL_VOICES, Status, fetch


class Command(BaseCommand):
    help = (
        "Assemble the Kokoro int8 ONNX model, its config, the stock voices and the PyTorch weights "
        "into VOICELAB_MODELS_DIR. Safe to re-run: only missing or altered files are rebuilt."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--voices",
            nargs="+",
            default=[],
            metavar="NAME",
            help=f"Voices to fetch besides {', '.join(DEFAULT_VOICES)}.",
        )
        parser.add_argument("--all-voices", action="store_true", help=f"Fetch all {len(ALL_VOICES)} stock voices.")
        parser.add_argument(
            "--voices-dir",
            type=Path,
            metavar="DIR",
            help="Take voices from DIR (<name>.pt, .bin or .npy) before any remote source.",
        )
        parser.add_argument("--offline", action="store_true", help="Never try the Hugging Face hub.")
        parser.add_argument("--skip-torch", action="store_true", help="Do not fetch or rebuild the PyTorch weights.")
        parser.add_argument(
            "--download-dir",
            type=Path,
            metavar="DIR",
            help="Keep the downloaded npm tarball in DIR and reuse it (default: a temporary folder).",
        )
        parser.add_argument("--quiet", action="store_true", help="No progress bars and no report.")

    def handle(self, *args: object, **options: object) -> None:
        root = Path(settings.VOICELAB_MODELS_DIR)
        voices = (*(ALL_VOICES if options["all_voices"] else DEFAULT_VOICES), *options["voices"])
        quiet = bool(options["quiet"])
        try:
            report = fetch(
                root,
                voices=voices,
                voices_dir=options["voices_dir"],
                hub=not options["offline"],
                torch=not options["skip_torch"],
                progress=not quiet,
                downloads=options["download_dir"],
            )
        except CLEAR_ERRORS as exc:
            raise CommandError(str(exc)) from None
        if quiet:
            return
        for warning in report.warnings:
            self.stderr.write(self.style.WARNING(warning))
        for outcome in report.outcomes:
            self.stdout.write(f"{outcome.status:<10}  {outcome.path}  ({outcome.source})")
        counts = ", ".join(f"{report.count(status)} {status}" for status in Status)
        self.stdout.write(self.style.SUCCESS(f"Kokoro models in {root}: {counts}."))
