from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Download the real model set (SDXL, InstantID, antelopev2, Real-ESRGAN x4plus) into "
        "HEADSHOT_MODEL_DIR/real: pinned revisions, SHA-256 checked, resumable. With "
        "HEADSHOT_MODELS=tiny (or --tiny) it builds the offline tiny set instead."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--model-dir",
            type=Path,
            default=None,
            help="Where the model sets live (default: HEADSHOT_MODEL_DIR).",
        )
        parser.add_argument(
            "--tiny",
            action="store_true",
            help="Build the tiny demo set, whatever the settings say.",
        )
        parser.add_argument(
            "--only",
            action="append",
            default=[],
            metavar="PREFIX",
            help="Fetch only files whose destination starts with PREFIX (e.g. realesrgan/). Repeatable.",
        )
        parser.add_argument(
            "--verify",
            action="store_true",
            help="Re-hash files already present against their pins.",
        )

    def handle(self, *args, model_dir, tiny, only, verify, **options):
        model_dir = model_dir or Path(getattr(settings, "HEADSHOT_MODEL_DIR", "var/models"))
        # Imported here: the web process loads management commands but never the worker's stack.
        if tiny or getattr(settings, "HEADSHOT_MODELS", "real") == "tiny":
            from gpu_worker.tiny import ensure_tiny_set

            root = ensure_tiny_set(model_dir).root
            self.stdout.write(f"tiny model set ready in {root}")
            return

        from gpu_worker.weights.fetch import ChecksumMismatch, SourceUnreachable, fetch_real_set
        from gpu_worker.weights.layout import model_set

        try:
            fetch_real_set(model_dir, only=only, verify_existing=verify, out=self.stdout)
        except (ChecksumMismatch, SourceUnreachable) as error:
            # One line, no traceback: what failed and what to do about it.
            raise CommandError(str(error)) from error
        if not only:
            self.stdout.write(f"real model set ready in {model_set(model_dir, 'real').root}")
