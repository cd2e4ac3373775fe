"""Read-only queries of the labeling app: the workspace's filters and its progress figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from labeling.models import Category, Recording, Sentence
from voicelab.engine.config import STYLES
from voicelab.engine.reference import PAUSE_SECONDS

STATUS_FILTERS: dict[str, Q] = {
    "labeled": Q(current_label__isnull=False),
    "unlabeled": Q(current_label__isnull=True),
    "recorded": Q(takes__isnull=False),
    "unrecorded": Q(takes__isnull=True),
    "validated": Q(active_take__isnull=False),
}


class FilterError(ValueError):
    """A filter value the workspace does not know; the message names the valid ones."""


def filter_sentences(*, category: str = "", style: str = "", status: str = "") -> QuerySet[Sentence]:
    """Sentences of the workspace, narrowed by category (list id), label style and status."""
    sentences = Sentence.objects.select_related(
        "category", "current_label__labeled_by", "active_take"
    ).prefetch_related("takes")
    if category:
        sentences = sentences.filter(category__list_id=category)
    if style:
        if style not in STYLES:
            raise FilterError(f"Unknown style {style!r}: choose one of {', '.join(STYLES)}.")
        sentences = sentences.filter(current_label__style=style)
    if status:
        if status not in STATUS_FILTERS:
            raise FilterError(f"Unknown status {status!r}: choose one of {', '.join(STATUS_FILTERS)}.")
        sentences = sentences.filter(STATUS_FILTERS[status]).distinct()
    return sentences


@dataclass(frozen=True)
class StyleProgress:
    style: str
    label: str
    labeled: int
    validated: int
    validated_seconds: float


@dataclass(frozen=True)
class CategoryProgress:
    category: Category
    total: int
    labeled: int
    recorded: int
    validated: int


def in_style_takes(*, styles: tuple[str, ...]) -> QuerySet[Sentence]:
    """Sentences whose validated take was recorded in the style they are labeled with: Stage 1's material."""
    return Sentence.objects.filter(
        active_take__isnull=False, current_label__style__in=styles, active_take__style=F("current_label__style")
    ).select_related("current_label", "active_take")


def reference_seconds(*, styles: tuple[str, ...]) -> dict[str, tuple[int, float]]:
    """Per style, its takes that are Stage 1's material and the seconds Stage 1 makes of them:
    their speech (edge silence trimmed) and the pauses it puts between them. The workspace's
    panel and the launch page both count with this."""
    spans: dict[str, list[float]] = {style: [] for style in styles}
    for sentence in in_style_takes(styles=styles):
        take = sentence.active_take
        spans[take.style].append(float((take.prosody or {}).get("speech_seconds") or take.duration_seconds or 0.0))
    return {style: (len(s), sum(s) + PAUSE_SECONDS * max(0, len(s) - 1)) for style, s in spans.items()}


def style_progress() -> list[StyleProgress]:
    """Per style: sentences labeled with it, and its validated takes in that style with the
    seconds Stage 1 will have of them (``reference_seconds``)."""
    labeled = dict(
        Sentence.objects.filter(current_label__isnull=False).values_list("current_label__style").annotate(n=Count("pk"))
    )
    material = reference_seconds(styles=tuple(STYLES))
    return [
        StyleProgress(
            style=name,
            label=spec.label,
            labeled=labeled.get(name, 0),
            validated=material[name][0],
            validated_seconds=round(material[name][1], 1),
        )
        for name, spec in STYLES.items()
    ]


def category_progress() -> list[CategoryProgress]:
    """Per category: how many sentences are labeled, have any take, have a validated take."""
    rows = Category.objects.annotate(
        total=Count("sentences", distinct=True),
        labeled=Count("sentences", filter=Q(sentences__current_label__isnull=False), distinct=True),
        recorded=Count("sentences", filter=Q(sentences__takes__isnull=False), distinct=True),
        validated=Count("sentences", filter=Q(sentences__active_take__isnull=False), distinct=True),
    ).order_by("position", "list_id")  # Meta.ordering does not apply to GROUP BY queries
    return [
        CategoryProgress(category=c, total=c.total, labeled=c.labeled, recorded=c.recorded, validated=c.validated)
        for c in rows
    ]


def takes_to_queue(*, stale_after: timedelta) -> list[int]:
    """Pending takes whose validation never reached the queue, or was queued longer ago than
    ``stale_after`` (its worker died, or the queue lost it): the sweep queues them again."""
    stale = timezone.now() - stale_after
    pending = Recording.objects.filter(status=Recording.Status.PENDING)
    return list(pending.filter(Q(queued_at__isnull=True) | Q(queued_at__lt=stale)).values_list("pk", flat=True))
