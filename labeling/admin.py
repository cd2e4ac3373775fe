from django.contrib import admin

from labeling.models import Category, Recording, Sentence, StyleLabel


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("list_id", "name", "prefix", "default_style", "source", "position")
    list_filter = ("source", "default_style")


class StyleLabelInline(admin.TabularInline):
    model = StyleLabel
    extra = 0
    readonly_fields = ("style", "previous_style", "labeled_by", "labeled_at", "method")
    can_delete = False


@admin.register(Sentence)
class SentenceAdmin(admin.ModelAdmin):
    list_display = ("sentence_id", "text", "category", "suggested_style", "current_label", "active_take")
    list_filter = ("category", "suggested_style", "current_label__style")
    search_fields = ("sentence_id", "text")
    raw_id_fields = ("current_label", "active_take")
    inlines = [StyleLabelInline]


@admin.register(StyleLabel)
class StyleLabelAdmin(admin.ModelAdmin):
    list_display = ("sentence", "style", "previous_style", "labeled_by", "labeled_at", "method")
    list_filter = ("style", "method")
    search_fields = ("sentence__sentence_id",)


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ("sentence", "take_number", "style", "speaker", "status", "quality_score", "grade", "created_at")
    list_filter = ("status", "style", "grade", "source")
    search_fields = ("sentence__sentence_id", "speaker")
    readonly_fields = ("findings", "prosody", "signal")
