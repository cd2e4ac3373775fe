"""Permission shortcuts for views: a refusal is a clear 403, never a redirect loop."""

from django.contrib.auth.decorators import permission_required

can_label = permission_required("labeling.label_sentence", raise_exception=True)
can_record = permission_required("labeling.record_sentence", raise_exception=True)
