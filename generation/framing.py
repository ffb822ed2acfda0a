"""Where the face sits in every headshot, and the crops cut around it.

The engine frames each headshot itself: InstantID's keypoint condition puts the face
centre at FACE_CENTER_X, FACE_CENTER_Y of the square, FACE_WIDTH_SHARE of its width
across, whatever the selfie's crop (gpu_worker.pipeline.instantid.frame_keypoints
reads these constants). So the crops are cut around that known position rather than
by detecting the face again on the web tier, which has no face detector.
"""

from dataclasses import dataclass

FACE_CENTER_X = 0.5
FACE_CENTER_Y = 0.42
FACE_WIDTH_SHARE = 0.4


@dataclass(frozen=True)
class Crop:
    slug: str
    label: str
    # width / height
    aspect: float
    # The crop's height as a share of the square's side: the face's share of the crop
    # is FACE_WIDTH_SHARE / height_share.
    height_share: float


CROPS = {
    "profile": Crop("profile", "Profile picture (1:1)", 1.0, 0.8),
    "website": Crop("website", "Website (4:5)", 0.8, 1.0),
}


def crop_box(size: tuple[int, int], crop: Crop) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) box of ``crop`` in a headshot of ``size``,
    centred on the face and kept inside the image."""
    width, height = size
    box_height = min(height, round(crop.height_share * height))
    box_width = min(width, round(box_height * crop.aspect))
    box_height = min(box_height, round(box_width / crop.aspect))
    left = round(FACE_CENTER_X * width - box_width / 2)
    top = round(FACE_CENTER_Y * height - box_height / 2)
    left = min(max(left, 0), width - box_width)
    top = min(max(top, 0), height - box_height)
    return left, top, left + box_width, top + box_height
