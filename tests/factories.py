import factory
from allauth.account.models import EmailAddress

from accounts.models import Membership, Role, User, Workspace

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def verified_email(self, create, extracted, **kwargs):
        if create:
            self.save()
            EmailAddress.objects.create(user=self, email=self.email, primary=True, verified=True)


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")
    kind = Workspace.Kind.TEAM


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    workspace = factory.SubFactory(WorkspaceFactory)
    role = Role.OWNER


def workspace_with_owner(**workspace_kwargs) -> tuple[Workspace, User]:
    membership = MembershipFactory(workspace=WorkspaceFactory(**workspace_kwargs))
    return membership.workspace, membership.user


def checked_photo(photo, *, face_data: bytes = b"face analysis from the GPU worker"):
    """A selfie as it is once the GPU worker's face check found a face: orderable.

    Web-tier tests order with it directly; the worker's own tests let the real check
    run instead. The bytes stand in for the worker's face analysis, which only the
    worker reads back.
    """
    from generation import services

    assert services.photo_check_passed(photo=photo, face_data=face_data)
    return photo
