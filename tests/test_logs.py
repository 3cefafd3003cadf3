"""Logs never show a whole phone number or OpenID, and leave everything else as it was."""

from __future__ import annotations

import io
import logging
import re
import sqlite3
import sys

from sqlalchemy.exc import DBAPIError

from bot.logs import MaskPhones, handler, mask, mask_in, scrub

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
OTHER_OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
ACCESS = (
    '127.0.0.1 [04/Dec/2026:01:23:45 +0000] "POST /webhooks/wechat?signature=3f1c0e9a'
    "&timestamp=1733275425&nonce=13987654321&openid={openid}&encrypt_type=aes"
    '&msg_signature=1d9c7e2b HTTP/1.1" 200 1375 "-" "Mozilla/5.0 (WeChat)"'
)
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO aiohttp\.access: ")


def written(message: str, *args, exc_info=None) -> str:
    """What farmchat's log handler writes for one INFO record of aiohttp.access."""
    out = io.StringIO()
    record = logging.LogRecord(
        "aiohttp.access", logging.INFO, __file__, 1, message, args, exc_info
    )
    handler(out).handle(record)
    return out.getvalue()


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


def test_an_access_log_line_loses_only_the_openid():
    line = written(ACCESS.format(openid=OPENID))
    assert STAMP.match(line), line
    assert line.endswith(ACCESS.format(openid="oUpF**********************6o") + "\n")


def test_an_access_log_line_with_a_short_user_id_loses_it_too():
    line = written(ACCESS.format(openid="oFakeUser01"))
    assert "oFakeUser01" not in line and "openid=oFak*****01&" in line
    assert "timestamp=1733275425&nonce=13987654321&" in line and '" 200 1375 "' in line


def test_numbers_and_openids_keep_a_head_and_a_tail_to_tell_users_apart():
    assert scrub("to +8613800000001 and whatsapp:+254700000002") == (
        "to +86138******01 and whatsapp:+25470*****02"
    )
    assert scrub("call 13800000001, or 手机13900000002") == "call 1380*****01, or 手机1390*****02"
    assert scrub("GET /admin/users?q=%2B8613800000001") == "GET /admin/users?q=%2B86138******01"
    first, second = scrub(OPENID), scrub(OTHER_OPENID)
    assert (first, second) == ("oUpF**********************6o", "o6_b**********************2M")
    assert scrub(f"key {OPENID}|1733275425|subscribe|") == f"key {first}|1733275425|subscribe|"


def test_what_identifies_nobody_is_left_whole():
    kept = [
        "2026-12-04 01:23:45,123",
        "at 1733275425 (1733275425123 ms)",
        "WeChat delivered 22837659582347129 again (delivery 2)",
        "status sent for unknown message SM0123456789abcdef0123456789abcdef ignored",
        "account AC11111111111111111111111111111111, order 1023, 12345678901 items",
        "[04/Dec/2026:01:23:45 +0000] 200 1375 +0800",
        "signature=1398765432113987654321aa, nonce=13800000001",
        "on_conflict_do_update_or_nothing in storage/repos.py",
        "the word onlylowercaselettersnodigits is no OpenID",
    ]
    assert [scrub(text) for text in kept] == kept


def test_an_event_key_is_shown_with_its_openid_masked():
    key = f"{OPENID}|1733275425|subscribe|"
    assert mask_in(key, OPENID) == "oUpF**********************6o|1733275425|subscribe|"
    assert mask_in("22837659582347129", OPENID) == "22837659582347129"


def test_a_database_error_traceback_shows_no_values():
    statement = "INSERT INTO inbound_messages (address, text) VALUES (?, ?)"
    cause = sqlite3.IntegrityError("NOT NULL constraint failed: inbound_messages.received_at")
    error = DBAPIError.instance(
        statement, ("+8613800000001", "call me on 13800000001"), cause, sqlite3.Error
    )
    assert "[parameters: (" in str(error)  # what SQLAlchemy says unless the engine hides them
    try:
        raise error
    except DBAPIError:
        line = written("message %s on %s failed", "SM123", "sms", exc_info=sys.exc_info())
    assert "Traceback (most recent call last)" in line and "NOT NULL constraint failed" in line
    assert "[SQL: INSERT INTO inbound_messages" in line and "[parameters hidden]" in line
    assert "8613800000001" not in line and "13800000001" not in line and "call me" not in line


def test_postgresql_details_show_no_row_values():
    text = (
        'null value in column "created_at" of relation "users" violates not-null constraint\n'
        "DETAIL:  Failing row contains (7, sms, +8613800000001, call me now, null).\n"
        "invalid input for query argument $2: 'call me now' (expected str, got int)"
    )
    assert scrub(text) == (
        'null value in column "created_at" of relation "users" violates not-null constraint\n'
        "DETAIL:  Failing row contains (...).\n"
        "invalid input for query argument $2: ..."
    )
