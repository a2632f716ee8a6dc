"""Two groups for the admin: payment viewers (look only) and payment operators.

Operators also get the three audited actions; nobody gets add, change or delete on
payment models (the admin refuses them anyway). Permissions are normally created after
all migrations ran, so this migration creates the ones it needs first.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWERS = "payment viewers"
OPERATORS = "payment operators"
VIEW = [
    ("payments", "view_paymentevent"),
    ("payments", "view_paymentorder"),
    ("payments", "view_paymenthistory"),
    ("payments", "view_compensationjob"),
    ("payments", "view_outboxmessage"),
    ("payments", "view_webhookevent"),
    ("products", "view_product"),
    ("products", "view_seller"),
    ("members", "view_member"),
]
ACT = [
    ("payments", "recheck_paymentevent"),
    ("payments", "resolve_paymentevent"),
    ("payments", "retry_compensation"),
]


def create_groups(apps, schema_editor):
    for label in ("payments", "products", "members"):
        config = apps.get_app_config(label)
        config.models_module = True  # create_permissions skips configs without it
        create_permissions(config, verbosity=0, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perms(pairs):
        return [
            Permission.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in pairs
        ]

    viewers, _ = Group.objects.get_or_create(name=VIEWERS)
    viewers.permissions.set(perms(VIEW))
    operators, _ = Group.objects.get_or_create(name=OPERATORS)
    operators.permissions.set(perms(VIEW + ACT))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[VIEWERS, OPERATORS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0004_webhooks_and_operator_permissions"),
        ("products", "0001_initial"),
        ("members", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
