"""Keep members/auth.py's cache true, and end a member's tokens when the password changes.

A deleted token or a changed member is forgotten by the cache. A new password (set by
the member, an operator in the admin, or a reset) deletes every API token of the member;
sessions end by themselves, since Django checks each against the password's hash.
"""

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from members.auth import forget_token
from members.models import Member


@receiver(post_delete, sender=Token, dispatch_uid="members.forget_deleted_token")
def forget_deleted_token(sender, instance, **kwargs):
    forget_token(instance.key)


@receiver(pre_save, sender=Member, dispatch_uid="members.notice_new_password")
def notice_new_password(sender, instance, update_fields=None, raw=False, **kwargs):
    if (
        raw
        or instance.pk is None
        or (update_fields is not None and "password" not in update_fields)
    ):
        return
    before = Member.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    instance._password_replaced = before is not None and before != instance.password


@receiver(post_save, sender=Member, dispatch_uid="members.forget_changed_member")
def forget_changed_member(sender, instance, update_fields=None, **kwargs):
    if getattr(instance, "_password_replaced", False):
        instance._password_replaced = False
        Token.objects.filter(user=instance).delete()  # each delete tombstones its entry
        return
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # a login changes nothing the cached member is checked for
    for key in Token.objects.filter(user=instance).values_list("key", flat=True):
        forget_token(key)
