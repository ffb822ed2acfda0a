"""Makes the database cache's table, so that a plain `migrate` is all any setup needs.

Without REDIS_URL, throttle counters and login lockouts live in Django's database
cache (settings.CACHES), shared by every web process. The table is made whether or
not REDIS_URL is set now, so a later switch away from Redis finds it; an existing one
is left alone.
"""

from django.conf import settings
from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations


def create_cache_table(apps, schema_editor):
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(
        schema_editor.connection.alias, settings.DATABASE_CACHE_TABLE, dry_run=False
    )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_personal_access_tokens_and_session_stamp")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
