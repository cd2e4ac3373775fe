from django.core.management.base import BaseCommand

from labeling.services.corpus import load_builtin_corpus


class Command(BaseCommand):
    help = "Load or refresh the built-in corpus sentences (labels and takes are kept)."

    def handle(self, *args: object, **options: object) -> None:
        result = load_builtin_corpus()
        self.stdout.write(
            f"Built-in corpus: {result.created} created, {result.updated} updated, {result.unchanged} unchanged."
        )
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(warning))
