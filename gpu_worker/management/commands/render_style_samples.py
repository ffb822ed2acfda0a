from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from PIL import Image

# A fixed seed per run: re-rendering the catalog gives the same pictures.
SAMPLE_SEED = 20260101


class Command(BaseCommand):
    help = (
        "Render each style's sample picture with the product's own engine (as the GPU "
        "worker does), from one reference face. On the tiny demo set the pictures carry "
        "its DEMO stamp; on the real weights they are real headshots. Styles that already "
        "have a sample (rendered or uploaded by staff) are skipped unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--face",
            type=Path,
            default=None,
            help="Reference face photo (one person, facing the camera, who agreed to be "
            "shown). Default: the public-domain NASA portrait of astronaut Eileen Collins "
            "that ships with scikit-image.",
        )
        parser.add_argument("--device", default="cuda:0", help="cuda:N or cpu (default cuda:0).")
        parser.add_argument(
            "--models",
            choices=["real", "tiny"],
            default=None,
            help="Model set (default: HEADSHOT_MODELS).",
        )
        parser.add_argument(
            "--model-dir", type=Path, default=None, help="Default: HEADSHOT_MODEL_DIR."
        )
        parser.add_argument("--steps", type=int, default=settings.HEADSHOT_STEPS)
        parser.add_argument("--styles", nargs="+", default=None, help="Only these style slugs.")
        parser.add_argument(
            "--force", action="store_true", help="Replace samples that already exist."
        )

    def handle(self, *args, face, device, models, model_dir, steps, styles, force, **options):
        # The worker's stack is imported here, never at module level (see gpu_worker.py).
        from generation import selectors, services
        from gpu_worker.pipeline.engine import HeadshotEngine, PipelineError
        from gpu_worker.weights.layout import ModelsMissing

        catalog = selectors.styles_active()
        if styles:
            catalog = catalog.filter(slug__in=styles)
            missing = set(styles) - set(catalog.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"No active style named {', '.join(sorted(missing))}.")
        todo = [style for style in catalog if force or not style.sample]
        if not todo:
            self.stdout.write("Every style already has a sample (use --force to replace them).")
            return
        reference = self._reference_face(face)
        model_set = models or settings.HEADSHOT_MODELS
        try:
            engine = HeadshotEngine.load(
                model_dir=model_dir or settings.HEADSHOT_MODEL_DIR,
                model_set=model_set,
                device=device,
            )
        except ModelsMissing as error:
            raise CommandError(str(error)) from error
        try:
            analysed = engine.analyze_face(reference)
        except PipelineError as error:
            raise CommandError(f"The reference face cannot be used: {error.message}") from error
        for style in todo:
            [image] = engine.generate(
                face=analysed,
                prompt=style.prompt,
                negative_prompt=style.negative_prompt,
                seeds=[SAMPLE_SEED],
                num_inference_steps=steps,
            )
            services.style_set_sample(style=style, image=image)
            self.stdout.write(f"{style.slug}: {style.sample.name}")
        demo = " (DEMO-stamped: tiny model set)" if engine.is_tiny else ""
        self.stdout.write(f"Rendered {len(todo)} style samples on {model_set}{demo}.")

    def _reference_face(self, path: Path | None) -> Image.Image:
        if path is None:
            from skimage import data

            return Image.fromarray(data.astronaut())
        try:
            with Image.open(path) as opened:
                return opened.convert("RGB")
        except OSError as error:
            raise CommandError(f"--face {path}: not a readable image ({error}).") from error
