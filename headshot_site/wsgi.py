import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "headshot_site.settings")
application = get_wsgi_application()

from headshot_site.startup import require_collected_static  # noqa: E402 (needs settings)

require_collected_static()
