"""The annotators' data: corpus sentences, their style labels and recorded takes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from voicelab.engine.config import STYLES

STYLE_CHOICES = [(spec.name, spec.label) for spec in STYLES.values()]

# What the built-in corpus' sentences are, as the pages name them; an imported corpus may
# bring other kinds, shown as written.
SENTENCE_KINDS = {
    "apology": _("apology"),
    "cluster": _("consonant cluster"),
    "confirmation": _("confirmation"),
    "data": _("data"),
    "diphthong": _("diphthong"),
    "emphasis": _("emphasis"),
    "farewell": _("farewell"),
    "greeting": _("greeting"),
    "hiatus": _("hiatus"),
    "minimal_pair": _("minimal pair"),
    "number": _("numbers"),
    "pangram": _("pangram"),
    "policy": _("policy"),
    "problem": _("problem"),
    "process": _("process"),
    "question": _("question"),
    "statement": _("statement"),
    "tongue_twister": _("tongue twister"),
    "welcome": _("welcome"),
}


class Category(models.Model):
    """A list of the corpus (the seed's ``list``), e.g. ``lista_call_center``."""

    class Source(models.TextChoices):
        BUILTIN = "builtin", _("Built-in")
        SHARVARD = "sharvard", _("Sharvard Corpus (imported)")

    list_id = models.SlugField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    name = models.CharField(max_length=100)
    purpose = models.TextField(blank=True)
    default_style = models.CharField(max_length=16, choices=STYLE_CHOICES)
    position = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.BUILTIN)

    class Meta:
        ordering = ["position", "list_id"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Sentence(models.Model):
    """A corpus sentence with a stable id (``shcc-01``) that recordings are named after."""

    sentence_id = models.CharField(max_length=32, unique=True)
    text = models.TextField()
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="sentences")
    position = models.PositiveIntegerField(help_text="Order within the category, from 1.")
    suggested_style = models.CharField(max_length=16, choices=STYLE_CHOICES)
    kind = models.CharField(max_length=32, blank=True, help_text="What the sentence is: greeting, apology…")
    details = models.JSONField(default=dict, blank=True, help_text="Minimal pair, contrast, variant…")
    # Pointers to the current label and take; the history stays in StyleLabel/Recording.
    current_label = models.OneToOneField(
        "StyleLabel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active_take = models.OneToOneField("Recording", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["category__position", "position"]
        permissions = [
            ("label_sentence", "Can assign style labels"),
            ("record_sentence", "Can upload and record takes"),
        ]

    def __str__(self) -> str:
        return f"{self.sentence_id}: {self.text}"

    @property
    def style(self) -> str | None:
        return self.current_label.style if self.current_label else None

    @property
    def has_take_in_style(self) -> bool:
        """Whether the validated take was recorded in the style the sentence is labeled with."""
        return bool(self.active_take and self.current_label and self.active_take.style == self.current_label.style)

    @property
    def kind_label(self) -> str:
        return str(SENTENCE_KINDS.get(self.kind, self.kind))

    @property
    def needs_take(self) -> bool:
        """Whether the sentence still waits for a validated take in the style it is labeled with
        (or for its label): what the studio's "skip" and "next" move between."""
        return not self.has_take_in_style

    @property
    def latest_take(self) -> Recording | None:
        """The newest take; served from prefetched ``takes`` when the query has them."""
        return max(self.takes.all(), key=lambda take: take.take_number, default=None)


class StyleLabel(models.Model):
    """One style assignment. The newest one is the sentence's label; older ones are its history."""

    class Method(models.TextChoices):
        DROPDOWN = "dropdown", _("Dropdown")
        KEYBOARD = "keyboard", _("Keyboard")
        BULK = "bulk", _("Bulk suggestion")
        IMPORT = "import", _("Import")
        ADMIN = "admin", _("Admin")

    sentence = models.ForeignKey(Sentence, on_delete=models.CASCADE, related_name="labels")
    style = models.CharField(max_length=16, choices=STYLE_CHOICES)
    previous_style = models.CharField(max_length=16, choices=STYLE_CHOICES, blank=True)
    labeled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    labeled_at = models.DateTimeField(auto_now_add=True)
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.DROPDOWN)

    class Meta:
        ordering = ["-labeled_at", "-pk"]
        get_latest_by = "labeled_at"

    def __str__(self) -> str:
        return f"{self.sentence.sentence_id} → {self.style}"


def take_upload_path(recording: Recording, filename: str) -> str:
    """Takes live apart from the exported ``recordings/<id>_<style>.wav`` files.

    The name is built from the sentence id, style and take number only: the
    uploader's filename never reaches the filesystem.
    """
    sentence_id = recording.sentence.sentence_id
    return f"recordings/takes/{sentence_id}/{sentence_id}_{recording.style}_take{recording.take_number:03d}.wav"


class Recording(models.Model):
    """One take of a sentence in a style. Earlier takes are kept, never overwritten."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for validation")
        VALID = "valid", _("Validated")
        REJECTED = "rejected", _("Rejected")
        FAILED = "failed", _("Validation failed")

    class Source(models.TextChoices):
        UPLOAD = "upload", _("Upload")
        BROWSER = "browser", _("Browser recording")
        IMPORT = "import", _("Import")

    sentence = models.ForeignKey(Sentence, on_delete=models.CASCADE, related_name="takes")
    style = models.CharField(max_length=16, choices=STYLE_CHOICES)
    take_number = models.PositiveIntegerField()
    audio = models.FileField(upload_to=take_upload_path, max_length=255)
    original_name = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.UPLOAD)
    speaker = models.CharField(max_length=150, help_text="Whose voice: style checks compare with their neutral takes.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # When its validation was last put on the queue: None while the queue could not be reached.
    queued_at = models.DateTimeField(null=True, blank=True)
    validation_attempts = models.PositiveIntegerField(default=0)
    validated_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    sample_rate = models.PositiveIntegerField(null=True, blank=True)
    quality_score = models.FloatField(null=True, blank=True)
    grade = models.CharField(max_length=8, blank=True)
    findings = models.JSONField(default=list, blank=True)
    prosody = models.JSONField(default=dict, blank=True)
    signal = models.JSONField(default=dict, blank=True)
    # The take's outline (peaks 0-1), drawn in its row; stored at upload, before validation.
    waveform = models.JSONField(default=list, blank=True)
    # Speech rate over the speaker's neutral takes (1.1: ten percent faster).
    pace = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["sentence", "-take_number"]
        constraints = [
            models.UniqueConstraint(fields=["sentence", "take_number"], name="unique_take_number"),
        ]

    def __str__(self) -> str:
        return f"{self.sentence.sentence_id} take {self.take_number} ({self.style})"

    @property
    def export_path(self) -> str:
        """The seed's path for the sentence's validated take, relative to MEDIA_ROOT."""
        return f"recordings/{self.sentence.sentence_id}_{self.style}.wav"
