from django.core.management.base import BaseCommand

from generation import services


class Command(BaseCommand):
    help = (
        "Delete selfies past their purge time (stored object, face data and row) and "
        "headshots past their plan's retention. Safe to run at any time, any number of times; "
        "a storage failure leaves the row, with the error, for the next run. Each real run is "
        "logged (the admin's purge runs page); a dry run changes nothing, the log included."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go; delete nothing."
        )
        parser.add_argument("--batch-size", type=int, default=services.PURGE_BATCH_SIZE)

    def handle(self, *args, dry_run: bool, batch_size: int, **options):
        if dry_run:
            photos = services.photos_purge_expired(batch_size=batch_size, dry_run=True)
            headshots = services.headshots_purge_expired(batch_size=batch_size, dry_run=True)
            self.stdout.write(f"photos: {photos.matched} would be deleted")
            self.stdout.write(f"headshots: {headshots.matched} would be deleted")
            return
        run = services.purge_run(batch_size=batch_size)
        for label, deleted, failed in (
            ("photos", run.photos_deleted, run.photos_failed),
            ("headshots", run.headshots_deleted, run.headshots_failed),
        ):
            line = f"{label}: {deleted} deleted, {failed} failed (kept for the next run)"
            self.stdout.write(self.style.WARNING(line) if failed else line)
