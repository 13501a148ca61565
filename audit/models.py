from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    CREATE = "create", _("作成")
    UPDATE = "update", _("変更")
    DELETE = "delete", _("削除")
    # Domain actions that are not plain edits of a row.
    POINTS_ADJUST = "points_adjust", _("ポイント手動調整")
    MEMBER_WITHDRAW = "member_withdraw", _("退会処理")
    MESSAGE_SEND = "message_send", _("配信")
    MESSAGE_CANCEL = "message_cancel", _("配信取消")
    TEST_SEND = "test_send", _("テスト送信")
    TERMINAL_REVOKE = "terminal_revoke", _("端末キー無効化")
    # A wrong password re-entered before a sensitive HQ action: kept as a security event and
    # counted to lock the action after repeated failures.
    REAUTH_FAILED = "reauth_failed", _("パスワード再入力の失敗")


class AuditEntry(models.Model):
    """One HQ change: who, when, what, and the record before and after.

    Append-only. The actor's username is copied so the entry still says who it was after the
    account is renamed or deleted.
    """

    occurred_at = models.DateTimeField(_("日時"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作者"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_username = models.CharField(_("操作者名"), max_length=150)
    action = models.CharField(_("操作"), max_length=32, choices=AuditAction.choices)
    # "app_label.model" of what changed, its primary key and how it read at the time.
    target_type = models.CharField(_("対象の種類"), max_length=100, db_index=True)
    target_id = models.CharField(_("対象ID"), max_length=64, blank=True)
    target_repr = models.CharField(_("対象"), max_length=200, blank=True)
    # Empty for a creation (no "before") or a deletion (no "after").
    before = models.JSONField(_("変更前"), default=dict, blank=True)
    after = models.JSONField(_("変更後"), default=dict, blank=True)
    reason = models.TextField(_("理由"), blank=True)

    class Meta:
        verbose_name = _("監査ログ")
        verbose_name_plural = _("監査ログ")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
            # The viewer's actor filter and the re-authentication lock read by actor and time.
            models.Index(fields=["actor", "occurred_at"], name="audit_actor_time"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_username} {self.action} {self.target_repr}"

    def changed_fields(self) -> list[tuple[str, object, object]]:
        """(field, before, after) for each field whose value differs."""
        before = self.before
        after = self.after
        return [
            (name, before.get(name), after.get(name))
            for name in sorted(set(before) | set(after))
            if before.get(name) != after.get(name)
        ]


class LoginFailure(models.Model):
    """A failed password login (admin, HQ, staff scanner): what the login throttle counts.

    Kept apart from ``AuditEntry``: these are written by anyone on the internet, not by HQ.
    """

    username = models.CharField(max_length=150)
    ip = models.GenericIPAddressField(null=True, blank=True)
    attempted_at = models.DateTimeField()

    class Meta:
        verbose_name = _("ログイン失敗")
        verbose_name_plural = _("ログイン失敗")
        indexes = [
            models.Index(fields=["username", "attempted_at"], name="loginfailure_user_time"),
            models.Index(fields=["ip", "attempted_at"], name="loginfailure_ip_time"),
        ]

    def __str__(self) -> str:
        return f"{self.username} {self.ip or '-'}"
