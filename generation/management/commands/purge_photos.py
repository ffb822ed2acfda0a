from django.core.management.base import BaseCommand

from generation import services


class Command(BaseCommand):
    help = (
        "Delete selfies past their purge time (stored object, face data and row) and "
        "headshots past their plan's retention. Safe to run at any time, any number of times; "
        "a storage failure leaves the row, with the error, for the next run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go; delete nothing."
        )
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args, dry_run: bool, batch_size: int, **options):
        photos = services.photos_purge_expired(batch_size=batch_size, dry_run=dry_run)
        headshots = services.headshots_purge_expired(batch_size=batch_size, dry_run=dry_run)
        for label, result in (("photos", photos), ("headshots", headshots)):
            if dry_run:
                self.stdout.write(f"{label}: {result.matched} would be deleted")
            else:
                line = f"{label}: {result.deleted} deleted, {result.failed} failed (kept for the next run)"
                self.stdout.write(self.style.WARNING(line) if result.failed else line)
