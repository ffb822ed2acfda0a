from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db.models.signals import post_migrate

# The project's own schedules, created or brought up to date on every `migrate`.
# bin/run-studio's `manage.py qcluster` runs them.
SCHEDULES = [
    {
        "name": "generation: purge expired photos and headshots",
        "func": "django.core.management.call_command",
        "args": "'purge_photos'",
        "schedule_type": "H",
        "minutes": None,
    },
    {
        "name": "generation: requeue orders of lost GPU workers",
        "func": "generation.tasks.recover_stale_orders",
        "args": None,
        "schedule_type": "I",
        "minutes": 5,
    },
    {
        "name": "generation: send again face checks whose queue message was lost",
        "func": "generation.tasks.resend_unchecked_photos",
        "args": None,
        "schedule_type": "I",
        "minutes": 1,
    },
    {
        "name": "accounts: send again emails whose queue message was lost",
        "func": "accounts.emails.emails_resend_unqueued",
        "args": None,
        "schedule_type": "I",
        "minutes": 1,
    },
]


def ensure_schedules(*, apps=None, using: str = "default", **kwargs) -> None:
    # `flush` (between transactional tests) sends post_migrate without `apps`.
    apps = apps or global_apps
    try:
        Schedule = apps.get_model("django_q", "Schedule")
    except LookupError:
        return  # django_q's tables are not migrated yet (e.g. `migrate generation`).
    for spec in SCHEDULES:
        fields = {key: value for key, value in spec.items() if key != "name"}
        schedule, created = Schedule.objects.using(using).get_or_create(
            name=spec["name"], defaults={**fields, "repeats": -1}
        )
        changed = {key: value for key, value in fields.items() if getattr(schedule, key) != value}
        if not created and (changed or schedule.repeats != -1):
            # Updates what the code defines but keeps next_run, so a deploy does not
            # delay or bunch up runs.
            Schedule.objects.using(using).filter(pk=schedule.pk).update(**changed, repeats=-1)


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = "Headshot generation"

    def ready(self) -> None:
        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="generation_schedules")
