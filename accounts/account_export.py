from django.http import FileResponse
from django.utils import timezone

from generation.services import user_export


def account_export_response(user) -> FileResponse:
    """The "Download my data" zip, for the portal and the API alike."""
    response = FileResponse(
        user_export(user=user),
        content_type="application/zip",
        as_attachment=True,
        filename=f"headshot-studio-data-{timezone.now():%Y-%m-%d}.zip",
    )
    response["Cache-Control"] = "private, no-store"
    return response
