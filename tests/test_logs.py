"""Logs never show a whole phone number."""

from __future__ import annotations

import logging

from bot.logs import MaskPhones, mask


def test_mask_keeps_country_prefix_and_last_digits():
    assert mask("+8613800000001") == "+86138******01"
    assert mask("+254700000002") == "+25470*****02"


def test_filter_masks_numbers_in_any_log_line(caplog):
    logger = logging.getLogger("farmchat.test")
    logger.addFilter(MaskPhones())
    with caplog.at_level(logging.INFO):
        logger.info("push to %s failed, order %s", "+8613800000001", 1023)
    assert "+8613800000001" not in caplog.text and "+86138******01" in caplog.text
    assert "order 1023" in caplog.text
