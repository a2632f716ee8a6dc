"""The books for the admin's groups: both may see accounts and journal entries; operators
may also retry a parked outbox row (payments/admin.py, OutboxMessageAdmin)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWERS = "payment viewers"
OPERATORS = "payment operators"
VIEW = [
    ("ledger", "view_account"),
    ("ledger", "view_journalentry"),
    ("ledger", "view_posting"),
]
ACT = [("payments", "retry_outboxmessage")]


def _perms(apps, pairs):
    Permission = apps.get_model("auth", "Permission")
    return [
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in pairs
    ]


def grant(apps, schema_editor):
    for label in ("payments", "ledger"):
        config = apps.get_app_config(label)
        config.models_module = True  # create_permissions skips configs without it
        create_permissions(config, verbosity=0, apps=apps)
    Group = apps.get_model("auth", "Group")
    Group.objects.get(name=VIEWERS).permissions.add(*_perms(apps, VIEW))
    Group.objects.get(name=OPERATORS).permissions.add(*_perms(apps, VIEW + ACT))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, pairs in ((VIEWERS, VIEW), (OPERATORS, VIEW + ACT)):
        Group.objects.get(name=name).permissions.remove(*_perms(apps, pairs))


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0009_books"),
        ("payments", "0005_operator_groups"),
        ("ledger", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
