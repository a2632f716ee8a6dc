"""Keep members/auth.py's cache true: a deleted token or a changed member is forgotten."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from members.auth import forget_token
from members.models import Member


@receiver(post_delete, sender=Token, dispatch_uid="members.forget_deleted_token")
def forget_deleted_token(sender, instance, **kwargs):
    forget_token(instance.key)


@receiver(post_save, sender=Member, dispatch_uid="members.forget_changed_member")
def forget_changed_member(sender, instance, update_fields=None, **kwargs):
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # a login changes nothing the cached member is checked for
    for key in Token.objects.filter(user=instance).values_list("key", flat=True):
        forget_token(key)
