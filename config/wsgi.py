import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

django_application = get_wsgi_application()

# After Django's setup: admission control reads the settings (config/admission.py).
from config.admission import Admission  # noqa: E402

application = Admission(django_application)
