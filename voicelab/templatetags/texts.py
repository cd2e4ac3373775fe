from __future__ import annotations

from django import template

from voicelab import i18n

register = template.Library()
register.filter("translated", i18n.translated)
