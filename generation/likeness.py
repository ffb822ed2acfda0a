"""How closely a headshot matches its selfie, in words a customer understands.

The score is the cosine similarity of the ArcFace identity embeddings of the selfie
and the headshot (0 to 1 in practice; the worker retries under
HEADSHOT_LIKENESS_THRESHOLD, 0.35 by default). The bands follow what the same
person scores against themselves across photos: above 0.55 is hard to tell apart,
0.35-0.55 is a clear resemblance, below that the likeness is loose.
"""

LIKENESS_BANDS = [
    (0.55, "Very strong match"),
    (0.45, "Strong match"),
    (0.35, "Good match"),
]
WEAK_MATCH = "Loose match"
NOT_MEASURED = "Likeness not measured"


def likeness_label(score: float | None) -> str:
    if score is None:
        return NOT_MEASURED
    for floor, label in LIKENESS_BANDS:
        if score >= floor:
            return label
    return WEAK_MATCH


def likeness_tone(score: float | None) -> str:
    """How the label is coloured: a match, a loose one, or not measured (neutral, not
    the green of a good result)."""
    if score is None:
        return "unmeasured"
    return "match" if score >= LIKENESS_BANDS[-1][0] else "loose"


def likeness_score_text(score: float | None) -> str:
    """The number as the gallery shows it on hover, tap or focus; empty when unmeasured."""
    return "" if score is None else f"{score:.2f}"


def likeness_title(score: float | None) -> str:
    """The number behind the words, for the hover text."""
    if score is None:
        return "No face was found in this headshot to compare with your selfie."
    return f"Likeness {score:.2f} (face similarity to your selfie, from 0 to 1)"


def best_match_first(headshots):
    """Headshots sorted for the gallery: best likeness first, unmeasured last."""
    return sorted(
        headshots,
        key=lambda headshot: (headshot.likeness is None, -(headshot.likeness or 0.0)),
    )
