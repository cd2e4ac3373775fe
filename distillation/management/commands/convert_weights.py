"""``python manage.py convert_weights model.onnx config.json out.pth``: the PyTorch weights
rebuilt from the int8 ONNX model (what ``fetch_models`` does when the hub is out of reach)."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from voicelab.engine.convert import write_pth
from voicelab.engine.errors import CLEAR_ERRORS


class Command(BaseCommand):
    help = "Rebuild Kokoro-82M's fp32 PyTorch weights (kokoro-v1_0.pth) from its int8 ONNX export."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("onnx_path", type=Path, help="kokoro-v1.0.int8.onnx")
        parser.add_argument("config_path", type=Path, help="the model's config.json")
        parser.add_argument("out_path", type=Path, help="where to write the .pth (atomically)")

    def handle(self, *args: object, onnx_path: Path, config_path: Path, out_path: Path, **options: object) -> None:
        start = time.perf_counter()
        try:
            write_pth(onnx_path, config_path, out_path)
        except CLEAR_ERRORS as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Wrote {out_path} in {time.perf_counter() - start:.1f} s")
