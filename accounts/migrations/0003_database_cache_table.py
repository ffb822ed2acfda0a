"""Makes the database cache's table, so that a plain `migrate` is all any setup needs.

Without REDIS_URL, throttle counters and login lockouts live in Django's database
cache (settings.CACHES), shared by every web process. createcachetable makes only
what is missing and does nothing when no cache uses the database.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_personal_access_tokens_and_session_stamp")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
