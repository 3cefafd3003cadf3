"""What a push's result means for its row: sent, retried later, failed for good, or waiting
for a quota's reset; and, per kind of message, how often and how far apart it is retried and
when a claim counts as cut off by a crash.

The spacing is tenacity's (exponential with jitter, so senders that failed together do not
retry together); the outbox keeps the due time in next_attempt_at, so a retry survives a
restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from tenacity import RetryCallState, stop_after_attempt, wait_exponential_jitter
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from bot.logs import mask
from bot.outbound.push import SendError
from storage.outbox import Claimed, Outcome

log = logging.getLogger(__name__)
MAX_BACKOFF = 3600.0  # seconds; no retry waits longer than an hour


@dataclass(frozen=True)
class RetryPolicy:
    """How one kind of message (notifications, broadcast messages) is retried and recovered.

    bulk: broadcast messages (a daily quota keeps a share back from them); stop: after which
    attempt a failure is final; wait: the delay before the next attempt; claim_timeout: a row
    claimed longer ago than this and still unsent was cut off by a crash.
    """

    name: str
    bulk: bool
    stop: stop_base
    wait: wait_base
    claim_timeout: timedelta

    @classmethod
    def exponential(
        cls, name: str, bulk: bool, attempts: int, base_seconds: float, claim_timeout: timedelta
    ) -> RetryPolicy:
        """At most `attempts` attempts, the n-th retry about base·2ⁿ⁻¹ seconds after."""
        wait = wait_exponential_jitter(
            multiplier=base_seconds, max=MAX_BACKOFF, jitter=base_seconds
        )
        return cls(name, bulk, stop_after_attempt(attempts), wait, claim_timeout)

    def outcome(self, row: Claimed, exc: Exception, now: datetime) -> Outcome:
        """The outcome of a push that raised exc."""
        error = (str(exc) or type(exc).__name__)[:255]
        failure = exc if isinstance(exc, SendError) else SendError(error)  # a dropped connection
        if failure.retry_at is not None:  # a daily quota is used up: no attempt spent
            log.info("push to %s waits until %s: %s", mask(row.address), failure.retry_at, error)
            return Outcome(
                row.id, "deferred", error=error, code=failure.code, retry_at=failure.retry_at
            )
        log.warning("push to %s failed: %s (code %s)", mask(row.address), error, failure.code)
        final = failure.permanent or self.stop(_state(row.attempts))
        retry_at = None if final else now + timedelta(seconds=self.wait(_state(row.attempts)))
        # a retried failure was safe to send again, so nothing was delivered; a permanent one
        # only when the provider refused it (no answer at all may still have been delivered)
        unreachable = final and (failure.unreachable or not failure.permanent)
        return Outcome(
            row.id,
            "failed" if final else "pending",
            error=error,
            code=failure.code,
            opted_out=failure.opted_out,
            user_id=row.user_id,
            attempts=row.attempts,
            retry_at=retry_at,
            unreachable=unreachable,
        )


def _state(attempts: int) -> RetryCallState:
    """tenacity's view of a row that has had `attempts` attempts."""
    state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
    state.attempt_number = attempts
    return state
