"""The team dashboard: member statuses, reminders, bulk invitations, seats, roles and
the zip of every member's chosen headshot."""

import io
import zipfile
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, Membership, Role
from generation import services as generation_services
from generation.models import Headshot
from tests.billing.conftest import subscription_for
from tests.factories import MembershipFactory, UserFactory, checked_photo
from tests.generation import imagefiles
from tests.generation.worker import deliver

pytestmark = pytest.mark.django_db


@pytest.fixture
def style(db):
    from tests.e2e.support import seed_styles

    seed_styles()
    from generation.models import Style

    return Style.objects.filter(tier="free").first()


def upload(workspace, user):
    return generation_services.photo_upload(
        workspace=workspace, user=user, upload=imagefiles.upload(imagefiles.jpeg())
    )


def order_for(workspace, user, style, *, delivered=True):
    order = generation_services.order_create(
        workspace=workspace,
        user=user,
        photo=checked_photo(upload(workspace, user)),
        style_slugs=[style.slug],
        per_style=2,
    )
    return deliver(order) if delivered else order


def members_page(client, user, workspace) -> str:
    client.force_login(user)
    response = client.get(f"/w/{workspace.slug}/members/")
    assert response.status_code == 200
    return response.content.decode()


def row_of(page: str, email: str) -> str:
    start = page.index(email)
    return page[start : page.index("</li>", start)]


def test_each_member_shows_how_far_they_got(client, user, workspace, style):
    joined = MembershipFactory(workspace=workspace, role="member").user
    uploaded = MembershipFactory(workspace=workspace, role="member").user
    ready = MembershipFactory(workspace=workspace, role="member").user
    upload(workspace, uploaded)
    order_for(workspace, ready, style)
    services.invitation_create(workspace=workspace, invited_by=user, email="later@example.com")

    page = members_page(client, user, workspace)

    assert "Joined" in row_of(page, joined.email)
    assert "Selfie uploaded" in row_of(page, uploaded.email)
    assert "Headshots ready" in row_of(page, ready.email)
    assert "2 headshots" in row_of(page, ready.email)
    assert "Invited" in row_of(page, "later@example.com")
    assert "Send a reminder" in row_of(page, "later@example.com")


def test_members_see_the_list_but_not_the_progress_or_the_invitations(client, workspace):
    member = MembershipFactory(workspace=workspace, role="member").user
    services.invitation_create(
        workspace=workspace,
        invited_by=Membership.objects.get(workspace=workspace, role="owner").user,
        email="later@example.com",
    )
    page = members_page(client, member, workspace)
    assert member.email in page
    assert "later@example.com" not in page and "Invite many" not in page
    assert "Joined</span>" not in page


def test_a_reminder_sends_the_invitation_again_with_seven_more_days(
    client, user, workspace, django_capture_on_commit_callbacks
):
    invitation = services.invitation_create(
        workspace=workspace, invited_by=user, email="slow@example.com"
    )
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/w/{workspace.slug}/members/invitations/{invitation.pk}/resend/", follow=True
        )
    assert "The invitation to slow@example.com is on its way again." in response.content.decode()
    [message] = mail.outbox
    assert message.to == ["slow@example.com"] and "/invitations/" in message.body
    invitation.refresh_from_db()
    assert invitation.expires_at > timezone.now() + timedelta(days=6)

    member = MembershipFactory(workspace=workspace, role="member").user
    client.force_login(member)
    url = f"/w/{workspace.slug}/members/invitations/{invitation.pk}/resend/"
    assert client.post(url).status_code == 403


def test_bulk_invite_from_a_pasted_list_and_a_csv(
    client, user, workspace, django_capture_on_commit_callbacks
):
    client.force_login(user)
    csv_file = SimpleUploadedFile(
        "staff.csv",
        "\ufeffName,Email\nAda,ada@example.com\n\nGrace,Grace@Example.com\n".encode(),
        content_type="text/csv",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/w/{workspace.slug}/members/bulk-invite/",
            {
                "bulk-emails": "Linus <linus@example.com>, ken@example.com\nbarbara@example.com",
                "bulk-csv_file": csv_file,
                "bulk-role": "member",
            },
            follow=True,
        )
    assert "5 invitations sent." in response.content.decode()
    assert sorted(Invitation.objects.values_list("email", flat=True)) == [
        "ada@example.com",
        "barbara@example.com",
        "grace@example.com",
        "ken@example.com",
        "linus@example.com",
    ]
    assert len(mail.outbox) == 5


def test_one_bad_row_invites_nobody_and_each_row_says_why(client, user, workspace):
    member = MembershipFactory(workspace=workspace, role="member").user
    services.invitation_create(workspace=workspace, invited_by=user, email="pending@example.com")
    client.force_login(user)
    response = client.post(
        f"/w/{workspace.slug}/members/bulk-invite/",
        {
            "bulk-emails": "\n".join(
                [
                    "fine@example.com",
                    "not-an-address",
                    member.email,
                    "pending@example.com",
                    "FINE@example.com",
                ]
            ),
            "bulk-role": "member",
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nobody was invited" in page
    assert "Row 2</span> <strong>not-an-address</strong>: Not an email address." in page
    assert f"Row 3</span> <strong>{member.email}</strong>: Already a member." in page
    assert "Row 4</span> <strong>pending@example.com</strong>: Already has a pending" in page
    assert "Row 5</span> <strong>FINE@example.com</strong>: Repeats row 1." in page
    assert list(Invitation.objects.values_list("email", flat=True)) == ["pending@example.com"]


def test_a_csv_that_is_not_text_is_a_clear_error(client, user, workspace):
    client.force_login(user)
    response = client.post(
        f"/w/{workspace.slug}/members/bulk-invite/",
        {
            "bulk-csv_file": SimpleUploadedFile("staff.csv", b"\xff\xfe\x00bad"),
            "bulk-role": "member",
        },
    )
    assert response.status_code == 400
    assert "not UTF-8 text" in response.content.decode()
    assert not Invitation.objects.exists()


def test_seats_used_against_seats_bought(client, user, workspace):
    MembershipFactory(workspace=workspace, role="member")
    page = members_page(client, user, workspace)
    assert "no seats bought yet" in page
    subscription_for(workspace, plan="team", quantity=5)
    page = members_page(client, user, workspace)
    assert "2</strong> of 5 seats used" in page


def test_owners_change_roles_and_a_team_keeps_an_owner(client, user, workspace):
    colleague = MembershipFactory(workspace=workspace, role="member")
    client.force_login(user)
    client.post(f"/w/{workspace.slug}/members/{colleague.pk}/role/", {"role": "owner"})
    colleague.refresh_from_db()
    assert colleague.role == Role.OWNER
    mine = Membership.objects.get(workspace=workspace, user=user)
    services.membership_role_set(membership=mine, role=Role.MEMBER, changed_by=user)
    with pytest.raises(Exception, match="A team needs an owner"):
        services.membership_role_set(
            membership=colleague, role=Role.MEMBER, changed_by=colleague.user
        )
    admin = MembershipFactory(workspace=workspace, role="admin").user
    client.force_login(admin)
    url = f"/w/{workspace.slug}/members/{colleague.pk}/role/"
    assert client.post(url, {"role": "member"}).status_code == 403


def test_members_choose_their_headshots_and_admins_download_them_all(
    client, user, workspace, style
):
    ada = MembershipFactory(workspace=workspace, role="member", user__email="ada@example.com").user
    grace = MembershipFactory(
        workspace=workspace, role="member", user__email="grace@example.com"
    ).user
    ada_order = order_for(workspace, ada, style)
    grace_order = order_for(workspace, grace, style)
    first = ada_order.headshots.first()

    client.force_login(ada)
    page = client.get(f"/w/{workspace.slug}/orders/{ada_order.pk}/").content.decode()
    assert "Choose for the team page" in page
    response = client.post(f"/w/{workspace.slug}/headshots/{first.pk}/choose/", {"chosen": "1"})
    assert response.status_code == 302
    # Someone else's headshot cannot be chosen for them: a member does not even see it,
    # and an admin, who does, may not choose for them.
    other = grace_order.headshots.first()
    assert client.post(f"/w/{workspace.slug}/headshots/{other.pk}/choose/").status_code == 404
    client.force_login(user)
    assert client.post(f"/w/{workspace.slug}/headshots/{other.pk}/choose/").status_code == 403
    client.force_login(ada)
    assert client.get(f"/w/{workspace.slug}/members/chosen-headshots.zip").status_code == 403

    client.force_login(grace)
    client.post(f"/w/{workspace.slug}/headshots/{other.pk}/choose/", {"chosen": "1"})
    assert Headshot.objects.for_workspace(workspace).filter(chosen_at__isnull=False).count() == 2

    page = members_page(client, user, workspace)
    assert "2 headshots chosen" in page
    response = client.get(f"/w/{workspace.slug}/members/chosen-headshots.zip")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = sorted(archive.namelist())
    assert [name.split("/")[0] for name in names] == ["ada_at_example.com", "grace_at_example.com"]
    assert archive.read(names[0]) == first.file.open("rb").read()

    client.force_login(grace)
    client.post(f"/w/{workspace.slug}/headshots/{other.pk}/choose/", {"chosen": "0"})
    assert Headshot.objects.for_workspace(workspace).filter(chosen_at__isnull=False).count() == 1


def test_outsiders_cannot_reach_the_team_zip(client, workspace, outsider):
    client.force_login(outsider)
    assert client.get(f"/w/{workspace.slug}/members/chosen-headshots.zip").status_code == 404


def test_personal_workspaces_have_no_team_dashboard(client, user):
    personal = MembershipFactory(user=user, workspace__kind="personal").workspace
    page = members_page(client, user, personal)
    assert "This is your personal workspace" in page and "Invite many" not in page
    with pytest.raises(Exception, match="Personal workspaces"):
        services.invitations_create_bulk(
            workspace=personal, invited_by=user, emails=[UserFactory.build().email]
        )


def test_order_lists_name_who_placed_each_order_for_owners_and_admins_only(
    client, user, workspace, style
):
    ada = MembershipFactory(workspace=workspace, role="member", user__email="ada@example.com").user
    order_for(workspace, ada, style, delivered=False)
    order_for(workspace, user, style, delivered=False)
    client.force_login(user)
    for path in (f"/w/{workspace.slug}/orders/", f"/w/{workspace.slug}/"):
        page = client.get(path).content.decode()
        assert "<th>Placed by</th>" in page
        assert '<td data-label="Placed by" class="placed-by">ada@example.com</td>' in page
        assert '<td data-label="Placed by" class="placed-by">You</td>' in page
    client.force_login(ada)
    assert "Placed by" not in client.get(f"/w/{workspace.slug}/orders/").content.decode()
