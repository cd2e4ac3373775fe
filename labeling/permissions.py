"""Permission shortcuts for views: a refusal is a clear 403, never a redirect loop."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy

can_label = permission_required("labeling.label_sentence", raise_exception=True)
can_record = permission_required("labeling.record_sentence", raise_exception=True)

# Both roles hold these (see roles.py); a logged-in user in no group holds neither.
READ_PERMISSIONS = ("labeling.view_sentence", "labeling.view_recording")
NO_ROLE_MESSAGE = gettext_lazy("Your account has no role yet; ask an operator to add you to annotators or operators.")

View = Callable[..., HttpResponse]


def can_read(view: View) -> View:
    """Only annotators and operators may see the corpus, its labels and its recordings.

    The 403 page shows the message, since being logged in and still refused is
    otherwise a puzzle.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not request.user.has_perms(READ_PERMISSIONS):
            raise PermissionDenied(NO_ROLE_MESSAGE)
        return view(request, *args, **kwargs)

    return wrapped
