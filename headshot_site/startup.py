"""Checks a web process makes before it takes its first request."""

from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.exceptions import ImproperlyConfigured


def require_collected_static() -> None:
    """With DEBUG off, pages link static files through collectstatic's manifest (hashed
    names, served by whitenoise). Without it every page would be a 500 ("Missing
    staticfiles manifest entry"), so the web process refuses to start instead, saying
    what to run."""
    manifest = getattr(staticfiles_storage, "manifest_name", None)
    if settings.DEBUG or manifest is None or staticfiles_storage.exists(manifest):
        return
    raise ImproperlyConfigured(
        f"Static files are not collected in {settings.STATIC_ROOT} (no {manifest}): run "
        "`manage.py collectstatic --noinput` before starting the web process "
        "(bin/start-web does)."
    )
