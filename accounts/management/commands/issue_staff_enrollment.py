from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import staff
from accounts.models import User


class Command(BaseCommand):
    help = (
        "Print a fresh one-time enrollment link (valid for one hour) for an existing staff "
        "account: after createsuperuser, or when someone lost their authenticator. Using "
        "it replaces the account's second factor."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email: str, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No account has the address {email}.")
        try:
            link = staff.staff_enrollment_link(user=user)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(f"Enrollment link for {user.email}, valid once for one hour:\n{link}")
