"""``python manage.py index_voices``: describe every stock voice once, for choosing a walk's start."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from voicelab.engine.assets import require
from voicelab.engine.errors import CLEAR_ERRORS
from voicelab.engine.stock import INDEX_FILE, stock_index
from voicelab.engine.synthesis import SynthesisConfig, SynthesisPool


class Command(BaseCommand):
    help = (
        f"Render every stock voice of VOICELAB_MODELS_DIR on two phrases and keep its speaker embeddings in "
        f"{INDEX_FILE}, so that Stage 2 chooses a start by lookup. Safe to re-run: only rebuilt when the "
        "voices changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true", help="No progress bar.")

    def handle(self, *args: object, quiet: bool = False, **options: object) -> None:
        try:
            assets = require(Path(settings.VOICELAB_MODELS_DIR))
            with (
                SynthesisPool(assets, SynthesisConfig.for_device(throughput=True)) as pool,
                tqdm(desc="describing the stock voices", unit="voice", disable=quiet) as bar,
            ):

                def progress(done: int, total: int) -> None:
                    bar.total, bar.n = total, done
                    bar.refresh()

                index = stock_index(assets, pool.synthesize_many, progress, batch=pool.config.processes)
        except CLEAR_ERRORS as exc:
            raise CommandError(str(exc)) from None
        if not quiet:
            self.stdout.write(
                self.style.SUCCESS(f"{len(index.names)} stock voices described in {assets.root / INDEX_FILE}.")
            )
