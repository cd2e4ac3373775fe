from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.services.corpus import (
    SHARVARD_ATTRIBUTION,
    CorpusError,
    import_sharvard,
    parse_list_selection,
    read_corpus_file,
)


class Command(BaseCommand):
    help = (
        "Import lists of the Sharvard Corpus from your copy of the official 700-sentence file "
        "(one sentence per line, or id<TAB>text). Re-importing keeps labels and takes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The Sharvard sentence file you downloaded.")
        parser.add_argument("--lists", default="1-5", help="Which lists to import, e.g. 1-5 or 1,3,7-9.")

    def handle(self, *args: object, path: Path, lists: str, **options: object) -> None:
        try:
            result = import_sharvard(text=read_corpus_file(path), lists=parse_list_selection(lists))
        except CorpusError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Sharvard lists {lists}: {result.created} created, {result.updated} updated, {result.unchanged} unchanged."
        )
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(warning))
        self.stdout.write(SHARVARD_ATTRIBUTION)
