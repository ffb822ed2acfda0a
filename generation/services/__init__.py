"""The one write path for generation: selfies, orders, quota, headshots and the purge.

The portal, the API, the GPU worker and the scheduler all call these, through this
package (`from generation import services`); each concern lives in its own module.
"""

from ..models import ErrorCode
from .account import user_delete, user_deletion_blockers, user_export
from .lifecycle import (
    headshot_create,
    order_heartbeat,
    order_mark_failed,
    order_mark_running,
    order_mark_succeeded,
    order_record_progress,
    order_release,
    orders_recover_stale,
    orders_release_for_worker,
    worker_heartbeat,
    worker_stopped,
)
from .orders import (
    MAX_PER_STYLE,
    headshot_redo,
    order_cancel,
    order_create,
    order_finished_email_prepare,
    order_more_like_this,
    order_refund_quota,
    order_retry,
)
from .photos import (
    PHOTO_LIFETIME,
    PhotoUnavailable,
    photo_check_passed,
    photo_check_rejected,
    photo_delete,
    photo_read_face_data,
    photo_read_image,
    photo_store_face_data,
    photo_upload,
    photos_purge,
    photos_resend_unchecked,
)
from .purge import (
    PURGE_BATCH_SIZE,
    PurgeResult,
    headshots_purge_expired,
    photos_purge_expired,
    purge_run,
)
from .styles import style_set_sample, workspace_styles_set
from .team import headshot_choose

__all__ = [
    "headshot_choose",
    "user_delete",
    "user_deletion_blockers",
    "user_export",
    "MAX_PER_STYLE",
    "PHOTO_LIFETIME",
    "PURGE_BATCH_SIZE",
    "ErrorCode",
    "PhotoUnavailable",
    "PurgeResult",
    "headshot_create",
    "headshot_redo",
    "headshots_purge_expired",
    "order_cancel",
    "order_create",
    "order_finished_email_prepare",
    "order_heartbeat",
    "order_mark_failed",
    "order_mark_running",
    "order_mark_succeeded",
    "order_more_like_this",
    "order_record_progress",
    "order_refund_quota",
    "order_release",
    "order_retry",
    "orders_recover_stale",
    "orders_release_for_worker",
    "photo_check_passed",
    "photo_check_rejected",
    "photo_delete",
    "photo_read_face_data",
    "photo_read_image",
    "photo_store_face_data",
    "photo_upload",
    "photos_resend_unchecked",
    "photos_purge",
    "photos_purge_expired",
    "purge_run",
    "worker_heartbeat",
    "worker_stopped",
    "style_set_sample",
    "workspace_styles_set",
]
