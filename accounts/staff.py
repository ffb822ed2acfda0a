"""Staff accounts and their second factor, which only an enrollment link can set.

A password alone must never reach the admin. So a staff member's TOTP is not
self-service: an operator runs `manage.py create_staff_account` (or
`issue_staff_enrollment` for an existing account) and hands over the printed link;
it works once, for an hour. Everything this project knows about allauth.mfa's TOTP
storage lives in this module.
"""

import base64
import hashlib
import secrets

from allauth.account.models import EmailAddress
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from .models import User
from .services import user_credentials_reset

ENROLLMENT_SALT = "accounts.staff.enrollment"
ENROLLMENT_MAX_AGE = 3600
# Marks the TOTP authenticators made through an enrollment link; only these open the admin.
ENROLLED_BY_LINK = "staff_enrollment_link"


def _enrollment_state(user: User) -> str:
    # Changes as soon as a link is used (a TOTP appears, the password is set), so a
    # used link, or any older one, stops working without storing anything.
    authenticators = sorted(Authenticator.objects.filter(user=user).values_list("pk", flat=True))
    material = f"{user.pk}:{user.password}:{user.is_staff}:{authenticators}"
    return hashlib.sha256(material.encode()).hexdigest()


def staff_account_create(*, email: str, superuser: bool = False) -> User:
    """A staff account with no usable password: its enrollment link sets one."""
    email = (email or "").strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError(f"{email} already has an account.", code="email_taken")
    with transaction.atomic():
        user = User.objects.create_user(
            email=email, password=None, is_staff=True, is_superuser=superuser
        )
        EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    return user


def staff_enrollment_link(*, user: User) -> str:
    if not user.is_staff:
        raise ValidationError(f"{user.email} is not a staff account.", code="not_staff")
    token = signing.dumps(
        {"user": user.pk, "state": _enrollment_state(user)}, salt=ENROLLMENT_SALT, compress=True
    )
    return f"{settings.SITE_URL}{reverse('staff_enroll', kwargs={'token': token})}"


def staff_enrollment_user(*, token: str) -> User:
    """The staff member a link is for, or a ValidationError saying why it does not work."""
    try:
        claims = signing.loads(token, salt=ENROLLMENT_SALT, max_age=ENROLLMENT_MAX_AGE)
    except signing.SignatureExpired:
        raise ValidationError(
            "This enrollment link has expired. Ask for a new one.", code="enrollment_expired"
        ) from None
    except signing.BadSignature:
        raise ValidationError(
            "This enrollment link is not valid.", code="enrollment_invalid"
        ) from None
    user = User.objects.filter(pk=claims.get("user"), is_staff=True, is_active=True).first()
    if user is None or claims.get("state") != _enrollment_state(user):
        raise ValidationError(
            "This enrollment link was already used. Ask for a new one.", code="enrollment_used"
        )
    return user


def totp_secret_new() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode()


def totp_qr_data_uri(*, user: User, secret: str) -> str:
    adapter = get_mfa_adapter()
    svg = adapter.build_totp_svg(adapter.build_totp_url(user, secret))
    return f"data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}"


def staff_totp_enroll(
    *, token: str, secret: str, code: str, password: str | None = None
) -> Authenticator:
    """Sets the staff member's TOTP (and password, when given) through their link.

    Any TOTP set before is replaced: the link's holder is the one the operator vouched for.
    """
    with transaction.atomic():
        user = staff_enrollment_user(token=token)
        user = User.objects.select_for_update().get(pk=user.pk)
        if password is not None:
            validate_password(password, user=user)
            user.set_password(password)
            user.save(update_fields=["password"])
        if not user.has_usable_password():
            raise ValidationError("Choose a password.", code="password_required")
        Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).delete()
        totp = TOTP.activate(user, secret)
        # Checked on the new authenticator, so that the code also counts as used and
        # cannot be replayed at the login that follows; a wrong one undoes it all.
        if not totp.validate_code((code or "").strip()):
            raise ValidationError(
                "That code does not match. Enter the 6 digits your app shows now.",
                code="totp_invalid",
            )
        authenticator = totp.instance
        authenticator.data = {**authenticator.data, "enrolled_by": ENROLLED_BY_LINK}
        authenticator.save(update_fields=["data"])
        # The operator vouched for the address when they made the account or the link.
        EmailAddress.objects.update_or_create(
            user=user,
            email__iexact=user.email,
            defaults={"email": user.email, "verified": True, "primary": True},
        )
        # Whatever signed in before the second factor existed signs in again with it.
        user_credentials_reset(user=user)
    return authenticator


def staff_has_enrolled_totp(user: User) -> bool:
    return any(
        authenticator.data.get("enrolled_by") == ENROLLED_BY_LINK
        for authenticator in Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP)
    )
