"""Team pages that read generation: members choosing their headshots, and the zip of
every member's choice for the company's website."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.models import Role

from . import selectors, services
from .api import file_response
from .views import _wants_json, workspace_view


@workspace_view("POST")
def headshot_choose(request, membership, headshot_id: int):
    headshot = selectors.headshot_get(membership=membership, headshot_id=headshot_id)
    chosen = request.POST.get("chosen", "1") == "1"
    services.headshot_choose(headshot=headshot, user=request.user, chosen=chosen)
    if _wants_json(request):
        return JsonResponse({"id": headshot.pk, "chosen": chosen})
    messages.success(
        request,
        "Chosen: your team's admins will get this one for the website."
        if chosen
        else "No longer chosen.",
    )
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect(
        "order_detail", workspace_slug=membership.workspace.slug, order_id=headshot.order_id
    )


@workspace_view("GET")
def team_chosen_download(request, membership):
    if not membership.has_role(Role.ADMIN):
        raise PermissionDenied("Only owners and admins download the team's headshots.")
    workspace = membership.workspace
    if not selectors.team_chosen_headshots(workspace=workspace).exists():
        messages.error(request, "No member has chosen a headshot yet.")
        return redirect("workspace_members", workspace_slug=workspace.slug)
    return file_response(
        selectors.team_chosen_zip(workspace=workspace),
        content_type="application/zip",
        filename=f"{workspace.slug}-team-headshots-{timezone.now():%Y-%m-%d}.zip",
        download=True,
    )
