"""The channels farmchat serves, one subpackage each (verify, parse, render, push).

Adding a channel: a subpackage with a build(settings) that returns a Channel (base.py), or
None when it is not configured, and its build in CHANNELS.
"""

from __future__ import annotations

from bot.channels import twilio, wechat
from bot.channels.base import Channel
from bot.config import Settings

CHANNELS = (twilio.build, wechat.build)


def enabled(settings: Settings) -> list[Channel]:
    """The configured channels, in CHANNELS order."""
    return [channel for build in CHANNELS if (channel := build(settings)) is not None]
