from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import staff


class Command(BaseCommand):
    help = (
        "Make a staff account and print its one-time enrollment link (valid for one hour), "
        "where the staff member sets a password and their authenticator app."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--superuser", action="store_true", help="with every admin permission")

    def handle(self, *args, email: str, superuser: bool, **options):
        try:
            user = staff.staff_account_create(email=email, superuser=superuser)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        link = staff.staff_enrollment_link(user=user)
        self.stdout.write(f"Staff account {user.email} created.")
        self.stdout.write(
            f"Enrollment link, for that person only, valid once for one hour:\n{link}"
        )
