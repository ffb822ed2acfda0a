"""Seed the style catalog. Staff edit styles in the admin afterwards; re-running this
migration (or reversing it) never touches a style whose slug it did not create."""

from django.db import migrations

_NEGATIVE = (
    "cartoon, illustration, painting, 3d render, anime, deformed face, asymmetric eyes, "
    "extra fingers, bad anatomy, blurry, out of focus, low resolution, jpeg artifacts, "
    "watermark, text, logo, oversaturated, plastic skin, heavy makeup"
)

STYLES = [
    {
        "slug": "corporate-grey",
        "name": "Corporate grey backdrop",
        "description": "The classic: dark suit or blazer, soft studio light, mottled grey backdrop.",
        "prompt": (
            "professional corporate headshot of a person, wearing a tailored dark suit jacket, "
            "mottled neutral grey studio backdrop, soft key light with gentle fill, subtle rim "
            "light, shallow depth of field, sharp focus on the eyes, natural skin texture, "
            "85mm lens, f/2.8, high detail, LinkedIn profile photo"
        ),
        "negative_prompt": _NEGATIVE + ", busy background, harsh shadows",
        "tier": "free",
        "position": 10,
    },
    {
        "slug": "modern-office",
        "name": "Modern office",
        "description": "Business casual in a bright, softly blurred open-plan office.",
        "prompt": (
            "professional headshot of a person in business casual clothing, standing in a "
            "bright modern open-plan office, glass walls and plants softly blurred in the "
            "background, large window light, warm and approachable expression, bokeh, "
            "50mm lens, f/2, natural colours, high detail"
        ),
        "negative_prompt": _NEGATIVE + ", cluttered desk, dark room",
        "tier": "free",
        "position": 20,
    },
    {
        "slug": "outdoor-natural-light",
        "name": "Outdoor natural light",
        "description": "Golden-hour daylight with green foliage melting into the background.",
        "prompt": (
            "outdoor professional headshot of a person, smart casual clothing, golden hour "
            "natural sunlight, green foliage and trees in creamy bokeh background, soft "
            "backlight in the hair, relaxed genuine smile, 85mm lens, f/1.8, high detail"
        ),
        "negative_prompt": _NEGATIVE + ", harsh midday sun, squinting, lens flare",
        "tier": "free",
        "position": 30,
    },
    {
        "slug": "black-and-white-studio",
        "name": "Black-and-white studio",
        "description": "Timeless monochrome portrait with dramatic but flattering light.",
        "prompt": (
            "black and white studio headshot of a person, classic monochrome portrait, "
            "dark charcoal backdrop, Rembrandt lighting, fine film grain, rich tonal range, "
            "confident expression, sharp focus on the eyes, 105mm lens, high detail"
        ),
        "negative_prompt": _NEGATIVE + ", colour, sepia tint, muddy greys",
        "tier": "free",
        "position": 40,
    },
    {
        "slug": "creative-colour-backdrop",
        "name": "Creative colour backdrop",
        "description": "A bold solid-colour backdrop for designers, founders and creatives.",
        "prompt": (
            "creative professional headshot of a person, stylish modern outfit, bold solid "
            "teal colour studio backdrop, clean even beauty lighting, vibrant yet natural skin "
            "tones, editorial magazine look, 85mm lens, high detail"
        ),
        "negative_prompt": _NEGATIVE + ", gradient banding, neon glow",
        "tier": "premium",
        "position": 50,
    },
    {
        "slug": "medical",
        "name": "Medical professional",
        "description": "White coat or scrubs in a clean, bright clinic setting.",
        "prompt": (
            "professional headshot of a doctor, wearing a white lab coat over a collared "
            "shirt, stethoscope around the neck, clean bright hospital corridor softly "
            "blurred behind, even soft lighting, trustworthy warm expression, 85mm lens, "
            "high detail"
        ),
        "negative_prompt": _NEGATIVE + ", blood, surgical mask covering the face",
        "tier": "premium",
        "position": 60,
    },
    {
        "slug": "legal-library",
        "name": "Legal library",
        "description": "Dark suit in front of wood-panelled shelves of law books.",
        "prompt": (
            "professional headshot of a lawyer, dark tailored suit and tie or blouse, "
            "wood-panelled law library with leather-bound books softly blurred in the "
            "background, warm tungsten key light, authoritative yet approachable, 85mm lens, "
            "f/2.8, high detail"
        ),
        "negative_prompt": _NEGATIVE + ", messy shelves, gavel in frame",
        "tier": "premium",
        "position": 70,
    },
    {
        "slug": "startup-casual",
        "name": "Startup casual",
        "description": "Relaxed tee or knit in a loft with brick and warm light.",
        "prompt": (
            "casual professional headshot of a startup founder, plain crew-neck t-shirt or "
            "knit sweater, industrial loft with exposed brick wall softly blurred, warm window "
            "light, friendly confident smile, candid feel, 50mm lens, f/2, high detail"
        ),
        "negative_prompt": _NEGATIVE + ", suit and tie, graphic print on clothing",
        "tier": "free",
        "position": 80,
    },
    {
        "slug": "evening-city",
        "name": "Evening city",
        "description": "Blue-hour skyline lights in soft bokeh behind you.",
        "prompt": (
            "professional headshot of a person at blue hour, smart coat or blazer, city "
            "skyline with glowing lights in large bokeh circles behind, soft key light on the "
            "face, cinematic colour grading, 85mm lens, f/1.4, high detail"
        ),
        "negative_prompt": _NEGATIVE + ", daylight, motion blur, noisy shadows",
        "tier": "premium",
        "position": 90,
    },
    {
        "slug": "executive-boardroom",
        "name": "Executive boardroom",
        "description": "Polished leadership portrait in a glass-walled boardroom.",
        "prompt": (
            "executive leadership headshot of a person, premium navy suit, glass-walled "
            "boardroom with city view softly blurred, crisp soft-box lighting, poised "
            "confident expression, annual report portrait, 85mm lens, high detail"
        ),
        "negative_prompt": _NEGATIVE + ", casual clothing, cluttered table",
        "tier": "premium",
        "position": 100,
    },
    {
        "slug": "warm-neutral-studio",
        "name": "Warm neutral studio",
        "description": "Soft beige backdrop and gentle light: friendly, clean, versatile.",
        "prompt": (
            "professional headshot of a person, light knit or soft blazer, warm beige seamless "
            "paper studio backdrop, large soft window-style light, gentle shadows, natural "
            "relaxed smile, clean minimal look, 85mm lens, high detail"
        ),
        "negative_prompt": _NEGATIVE + ", cold colour cast",
        "tier": "free",
        "position": 110,
    },
    {
        "slug": "real-estate-agent",
        "name": "Real estate agent",
        "description": "Welcoming smile in front of a bright, upscale home interior.",
        "prompt": (
            "friendly professional headshot of a real estate agent, smart blazer, bright "
            "upscale living room with large windows softly blurred behind, airy natural light, "
            "welcoming smile, 50mm lens, f/2, high detail"
        ),
        "negative_prompt": _NEGATIVE + ", dark interior, for-sale sign in frame",
        "tier": "premium",
        "position": 120,
    },
]


def seed(apps, schema_editor):
    Style = apps.get_model("generation", "Style")
    for spec in STYLES:
        Style.objects.get_or_create(slug=spec["slug"], defaults=spec)


def unseed(apps, schema_editor):
    Style = apps.get_model("generation", "Style")
    Style.objects.filter(slug__in=[spec["slug"] for spec in STYLES]).delete()


class Migration(migrations.Migration):
    dependencies = [("generation", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
