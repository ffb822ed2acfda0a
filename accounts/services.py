"""The one write path for users, workspaces, memberships and invitations."""

import re
import secrets
from datetime import timedelta

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.models import EmailAddress
from allauth.core import context as allauth_context
from django.conf import settings
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from core.serializer_fields import HIDDEN_CHARACTERS

from .emails import email_queue
from .models import (
    Invitation,
    Membership,
    PersonalAccessToken,
    Role,
    User,
    Workspace,
    new_session_stamp,
)

INVITATION_SALT = "accounts.invitation"


def _clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError("Enter a valid email address.", code="invalid_email") from None
    return email


def _unique_slug(name: str) -> str:
    base = slugify(name)[:40].strip("-") or "workspace"
    return f"{base}-{secrets.token_hex(3)}"


def workspace_create(*, owner: User, name: str, kind: str = Workspace.Kind.TEAM) -> Workspace:
    """A workspace with `owner` as its owner. Plans decide how many free teams a person
    may own: customers create teams through `billing.services.team_workspace_create`."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("Give the workspace a name.", code="name_required")
    if len(name) > 100:
        raise ValidationError("Workspace names are at most 100 characters.", code="name_too_long")
    # The name goes into email subjects and page titles: a line break there is a header
    # injection, and other control or format characters only hide what the name says.
    if re.search(f"[{HIDDEN_CHARACTERS}]", name):
        raise ValidationError(
            "Workspace names can hold letters, digits, spaces and punctuation, but no line "
            "breaks, tabs or other control characters.",
            code="name_invalid_characters",
        )
    with transaction.atomic():
        workspace = Workspace.objects.create(
            name=name, slug=_unique_slug(name), kind=kind, created_by=owner
        )
        Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def teams_owned_by(user: User):
    return Workspace.objects.filter(
        kind=Workspace.Kind.TEAM, memberships__user=user, memberships__role=Role.OWNER
    )


def workspace_create_personal(*, user: User) -> Workspace:
    return workspace_create(owner=user, name="Personal", kind=Workspace.Kind.PERSONAL)


def user_signup(*, email: str, password: str, request: HttpRequest) -> User | None:
    """Create a user with their personal workspace and send the verification email.

    An address that already has an account gets no second one: its owner is emailed
    that someone tried to sign up with it, and the caller answers exactly as for a
    new account, so sign-up never tells anyone which addresses have accounts. Returns
    the new user, or None for a taken address. The request is where the links in
    either email point (scheme and host).
    """
    email = _clean_email(email)
    validate_password(password, user=User(email=email))
    if User.objects.filter(email__iexact=email).exists():
        _answer_taken_address(email, password, request)
        return None
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password)
            address = EmailAddress.objects.create(
                user=user, email=email, primary=True, verified=False
            )
            workspace_create_personal(user=user)
    except IntegrityError:
        # Two sign-ups raced for the same address; the database kept the other one.
        _answer_taken_address(email, password, request)
        return None
    transaction.on_commit(lambda: _send_verification(address, request))
    return user


def _answer_taken_address(email: str, password: str, request: HttpRequest) -> None:
    # Hashing as a new account would keeps the answer's timing alike too.
    make_password(password)
    transaction.on_commit(lambda: _send_account_already_exists(email, request))


def _send_account_already_exists(email: str, request: HttpRequest) -> None:
    # The portal's sign-up sends this same allauth email for a taken address.
    with allauth_context.request_context(request):
        get_account_adapter(request).send_account_already_exists_mail(email)


def _send_verification(address: EmailAddress, request: HttpRequest) -> None:
    # allauth builds the link from the request it finds in its own context; an
    # on_commit callback may run after the view has left that context.
    with allauth_context.request_context(request):
        address.send_confirmation(request, signup=True)


def token_create(*, user: User, name: str) -> tuple[PersonalAccessToken, str]:
    """A new personal access token; the returned string is the only copy of it."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("Give the token a name.", code="name_required")
    if len(name) > 100:
        raise ValidationError("Token names are at most 100 characters.", code="name_too_long")
    if not user_email_is_verified(user=user):
        raise ValidationError(
            "Verify your email address first: follow the link we emailed you.",
            code="email_unverified",
        )
    return PersonalAccessToken.objects.create(user=user, name=name)


def token_revoke(*, user: User, token_id: int) -> None:
    """Revoke one of the user's own tokens; anyone else's is as missing as no token."""
    deleted, _ = PersonalAccessToken.objects.filter(user=user, pk=token_id).delete()
    if not deleted:
        raise PersonalAccessToken.DoesNotExist


def tokens_revoke_all(*, user: User) -> int:
    """Revoke every token of the user's; how many there were."""
    deleted, _ = PersonalAccessToken.objects.filter(user=user).delete()
    return deleted


def user_email_is_verified(*, user: User) -> bool:
    return EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()


def user_credentials_reset(*, user: User, request: HttpRequest | None = None) -> None:
    """After a password change or reset, or a first proof of owning the address:
    whatever was signed in before may belong to someone who only knew (or set) the
    password. Every token is revoked and every session ends but the request's own."""
    with transaction.atomic():
        tokens_revoke_all(user=user)
        user.session_stamp = new_session_stamp()
        user.save(update_fields=["session_stamp"])
    if request is not None and getattr(request, "user", None) == user:
        update_session_auth_hash(request, user)


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps(invitation.key, salt=INVITATION_SALT)


def invitation_url(invitation: Invitation) -> str:
    path = reverse("invitation_accept", kwargs={"token": invitation_token(invitation)})
    return f"{settings.SITE_URL}{path}"


def _queue_invitation_email(invitation: Invitation) -> None:
    context = {"invitation": invitation, "url": invitation_url(invitation)}
    invitation.email_message = email_queue(
        to=invitation.email,
        subject=f"[{settings.SITE_NAME}] You're invited to {invitation.workspace.name}",
        body=render_to_string("accounts/email/invitation.txt", context),
    )
    invitation.save(update_fields=["email_message"])


def invitation_create(
    *, workspace: Workspace, invited_by: User, email: str, role: str = Role.MEMBER
) -> Invitation:
    _require_inviter(workspace=workspace, user=invited_by)
    if role not in (Role.ADMIN, Role.MEMBER):
        raise ValidationError("Invite people as an admin or a member.", code="invalid_role")
    email = _clean_email(email)
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise ValidationError(f"{email} is already a member.", code="already_member")
    with transaction.atomic():
        pending = (
            Invitation.objects.select_for_update()
            .filter(workspace=workspace, email__iexact=email, accepted_at=None, revoked_at=None)
            .first()
        )
        if pending is not None:
            if not pending.is_expired:
                raise ValidationError(
                    f"{email} already has a pending invitation.", code="already_invited"
                )
            pending.revoked_at = timezone.now()
            pending.save(update_fields=["revoked_at"])
        invitation = Invitation.objects.create(
            workspace=workspace, email=email, role=role, invited_by=invited_by
        )
        _queue_invitation_email(invitation)
    return invitation


def invitation_resend(*, invitation: Invitation, sent_by: User) -> Invitation:
    """Email a pending invitation again (a reminder, or after its email failed), with
    the same link and seven more days from now."""
    _require_inviter(workspace=invitation.workspace, user=sent_by)
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update().select_related("workspace").get(pk=invitation.pk)
        )
        if not invitation.is_pending:
            raise ValidationError(
                "This invitation was already accepted or withdrawn.", code="invitation_closed"
            )
        invitation.expires_at = timezone.now() + timedelta(days=settings.INVITATION_MAX_AGE_DAYS)
        invitation.save(update_fields=["expires_at"])
        _queue_invitation_email(invitation)
    return invitation


MAX_BULK_INVITATIONS = 500


class BulkInvitationRefused(ValidationError):
    """Some rows cannot be invited; nothing was. `rows` holds (row, email, why) for each."""

    def __init__(self, rows: list[tuple[int, str, str]]):
        super().__init__(
            f"{len(rows)} row{'s' if len(rows) != 1 else ''} need fixing; nobody was invited.",
            code="bulk_invalid",
        )
        self.rows = rows


def _require_inviter(*, workspace: Workspace, user: User) -> None:
    membership = Membership.objects.filter(workspace=workspace, user=user).first()
    if membership is None or not membership.has_role(Role.ADMIN):
        raise PermissionDenied("Only owners and admins can invite people.")
    if workspace.kind != Workspace.Kind.TEAM:
        raise ValidationError(
            "Personal workspaces are just for you. Create a team workspace to invite people.",
            code="personal_workspace",
        )


def invitations_create_bulk(
    *, workspace: Workspace, invited_by: User, emails: list[str], role: str = Role.MEMBER
) -> list[Invitation]:
    """Invite everyone on a pasted list or a CSV, or nobody: every row is checked first,
    and any bad row (not an address, repeated, already a member, already invited)
    refuses the whole list with a reason per row."""
    _require_inviter(workspace=workspace, user=invited_by)
    if role not in (Role.ADMIN, Role.MEMBER):
        raise ValidationError("Invite people as an admin or a member.", code="invalid_role")
    if not emails:
        raise ValidationError("Paste at least one email address.", code="bulk_empty")
    if len(emails) > MAX_BULK_INVITATIONS:
        raise ValidationError(
            f"At most {MAX_BULK_INVITATIONS} addresses at a time.", code="bulk_too_many"
        )
    members = {
        email.lower()
        for email in Membership.objects.filter(workspace=workspace).values_list(
            "user__email", flat=True
        )
    }
    now = timezone.now()
    invited = {
        email.lower()
        for email in Invitation.objects.filter(
            workspace=workspace, accepted_at=None, revoked_at=None, expires_at__gt=now
        ).values_list("email", flat=True)
    }
    problems, seen, clean = [], {}, []
    for row, raw in enumerate(emails, start=1):
        try:
            email = _clean_email(raw)
        except ValidationError:
            problems.append((row, raw, "Not an email address."))
            continue
        if email in seen:
            problems.append((row, raw, f"Repeats row {seen[email]}."))
        elif email in members:
            problems.append((row, raw, "Already a member."))
        elif email in invited:
            problems.append((row, raw, "Already has a pending invitation."))
        seen.setdefault(email, row)
        clean.append(email)
    if problems:
        raise BulkInvitationRefused(problems)
    with transaction.atomic():
        # Expired invitations to the same addresses make way for the new ones.
        Invitation.objects.filter(
            workspace=workspace,
            accepted_at=None,
            revoked_at=None,
            email__in=clean,
        ).update(revoked_at=now)
        created = [
            Invitation.objects.create(
                workspace=workspace, email=email, role=role, invited_by=invited_by
            )
            for email in clean
        ]
        for invitation in created:
            _queue_invitation_email(invitation)
    return created


def membership_role_set(*, membership: Membership, role: str, changed_by: User) -> Membership:
    """Owners change roles; a team always keeps at least one owner."""
    changer = Membership.objects.filter(workspace_id=membership.workspace_id, user=changed_by)
    if not any(m.role == Role.OWNER for m in changer):
        raise PermissionDenied("Only owners can change roles.")
    if role not in Role.values:
        raise ValidationError("Choose owner, admin or member.", code="invalid_role")
    with transaction.atomic():
        owners = Membership.objects.select_for_update().filter(
            workspace_id=membership.workspace_id, role=Role.OWNER
        )
        if (
            membership.role == Role.OWNER
            and role != Role.OWNER
            and not owners.exclude(pk=membership.pk).exists()
        ):
            raise ValidationError(
                "A team needs an owner: make someone else an owner first.", code="last_owner"
            )
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def invitation_from_token(token: str) -> Invitation:
    """The invitation a link points at; a clear ValidationError for any bad link."""
    max_age = settings.INVITATION_MAX_AGE_DAYS * 24 * 3600
    try:
        key = signing.loads(token, salt=INVITATION_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise ValidationError(
            "This invitation has expired. Ask for a new one.", code="invitation_expired"
        ) from None
    except signing.BadSignature:
        raise ValidationError(
            "This invitation link is not valid.", code="invitation_invalid"
        ) from None
    invitation = Invitation.objects.select_related("workspace").filter(key=key).first()
    if invitation is None or invitation.revoked_at is not None:
        raise ValidationError("This invitation was withdrawn.", code="invitation_revoked")
    if invitation.accepted_at is None and invitation.is_expired:
        raise ValidationError(
            "This invitation has expired. Ask for a new one.", code="invitation_expired"
        )
    return invitation


def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.revoked_at is not None:
            raise ValidationError("This invitation was withdrawn.", code="invitation_revoked")
        if invitation.accepted_at is not None:
            membership = Membership.objects.filter(
                workspace_id=invitation.workspace_id, user=user
            ).first()
            if membership is not None:
                return membership
            raise ValidationError("This invitation was already used.", code="invitation_used")
        if invitation.is_expired:
            raise ValidationError(
                "This invitation has expired. Ask for a new one.", code="invitation_expired"
            )
        if invitation.email.lower() != user.email.lower():
            raise ValidationError(
                f"This invitation was sent to {invitation.email}. "
                "Log in with that address to accept it.",
                code="invitation_wrong_user",
            )
        membership, _ = Membership.objects.get_or_create(
            workspace_id=invitation.workspace_id, user=user, defaults={"role": invitation.role}
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


def invitation_revoke(*, invitation: Invitation, revoked_by: User) -> Invitation:
    membership = Membership.objects.filter(
        workspace_id=invitation.workspace_id, user=revoked_by
    ).first()
    if membership is None or not membership.has_role(Role.ADMIN):
        raise PermissionDenied("Only owners and admins can withdraw invitations.")
    if invitation.is_pending:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation
