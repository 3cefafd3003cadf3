"""Human hand-off: a coordinator answers a user from the dashboard, and the bot stays quiet
for that user (their messages are kept, not answered) until the coordinator hands back or
the hand-off lapses. The user is told when a person takes over and when the bot is back. The
coordinator's words go through the outbox like every push, with each channel's rules (on
WeChat: a customer-service message inside the 48-hour window, the template outside it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers.context import Scope
from handlers.messages import Reply
from storage import audit, history
from storage.repos import UserRow

MAX_TEXT = 1000


def active(until: datetime | None, now: datetime) -> bool:
    return until is not None and until > now


async def take_over(scope: Scope, user: UserRow, by: str, minutes: int) -> bool:
    """A person answers the user for the next `minutes`; whether this began a hand-off (then
    the user is told, and the audit log says who)."""
    was = await scope.uow.users.get(user.id)
    began = was is None or not active(was.handoff_until, scope.now)
    await history.set_handoff(scope.uow, user.id, scope.now + timedelta(minutes=minutes), by)
    if began:
        scope.tell(user, "handoff_started")
        await audit.record(scope.uow, by, "conversation.taken", f"user #{user.id}", scope.now)
    return began


async def answer(scope: Scope, user: UserRow, by: str, text: str, minutes: int) -> None:
    """The coordinator's words to the user (taking the conversation over if not yet)."""
    await take_over(scope, user, by, minutes)
    scope.notices.append(Reply(text.strip()[:MAX_TEXT], to=user.id, kind="handoff"))


async def hand_back(scope: Scope, user: UserRow, by: str) -> bool:
    """The bot answers the user again; whether a hand-off was running."""
    was = await scope.uow.users.get(user.id)
    running = was is not None and active(was.handoff_until, scope.now)
    await history.set_handoff(scope.uow, user.id, None, None)
    if running:
        scope.tell(user, "handoff_ended")
        await audit.record(
            scope.uow, by, "conversation.handed_back", f"user #{user.id}", scope.now
        )
    return running
