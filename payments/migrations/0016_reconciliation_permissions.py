"""Reconciliation for the admin's groups: both may see runs and discrepancies
(payments/admin_reconciliation.py); operators may also re-check and resolve them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWERS = "payment viewers"
OPERATORS = "payment operators"
VIEW = [
    ("payments", "view_reconciliationrun"),
    ("payments", "view_discrepancy"),
]
ACT = [("payments", "resolve_discrepancy")]


def _perms(apps, pairs):
    Permission = apps.get_model("auth", "Permission")
    return [
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in pairs
    ]


def grant(apps, schema_editor):
    config = apps.get_app_config("payments")
    config.models_module = True  # create_permissions skips configs without it
    create_permissions(config, verbosity=0, apps=apps)
    Group = apps.get_model("auth", "Group")
    Group.objects.get(name=VIEWERS).permissions.add(*_perms(apps, VIEW))
    Group.objects.get(name=OPERATORS).permissions.add(*_perms(apps, VIEW + ACT))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.get(name=VIEWERS).permissions.remove(*_perms(apps, VIEW))
    Group.objects.get(name=OPERATORS).permissions.remove(*_perms(apps, VIEW + ACT))


class Migration(migrations.Migration):
    dependencies = [("payments", "0015_reconciliation")]

    operations = [migrations.RunPython(grant, revoke)]
