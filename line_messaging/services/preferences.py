"""A LINE friend's message preferences."""

from line_messaging.models import LineFriend


def friend_marketing_opt_in_set(*, line_user_id: str, opt_in: bool) -> bool:
    """Record whether the friend accepts marketing messages (campaigns); returns the value.

    Receipts, expiry reminders and other account messages are sent regardless.
    Raises ``LineFriend.DoesNotExist`` for an unknown user.
    """
    updated = LineFriend.objects.filter(user_id=line_user_id).update(marketing_opt_in=opt_in)
    if not updated:
        raise LineFriend.DoesNotExist(line_user_id)
    return opt_in
