"""WeChat signatures, AES and XML: known-answer vectors, strict checks, wechatpy to cross-check."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.channels.wechat.crypto import (
    AppIdError,
    DecryptError,
    SignatureError,
    WeChatCrypto,
    aes_key,
    seal,
    sign,
    signature_ok,
    unseal,
)
from bot.channels.wechat.payload import Push, XmlError, cdata, parse, render, text_reply

# The WeChat entries of shared/vectors/channels.json, kept in the repository so they always run
# (a missing file fails this module). SHA-256 of those entries as canonical JSON when copied:
VECTORS = Path(__file__).parent / "data" / "wechat_vectors.json"
V = json.loads(VECTORS.read_text(encoding="utf-8"))
COPIED = "619434af891a79fd419241c9d46cb235680fcb4e0e6c576acc2517aa695274a6"
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OLD_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
APP_ID = "wx2c2769f8efd9abc2"


def raw_encrypt(encoding_aes_key: str, plain: bytes) -> str:
    """AES-256-CBC with WeChat's key and IV but the caller's own (possibly broken) padding."""
    key = aes_key(encoding_aes_key)
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def layout(text: str, app_id: str = APP_ID, length: int | None = None) -> bytes:
    body = text.encode()
    return (
        b"R" * 16
        + struct.pack(">I", len(body) if length is None else length)
        + body
        + app_id.encode()
    )


# known answers -------------------------------------------------------------------------
def test_the_vectors_are_those_copied_from_the_shared_file():
    wechat = {k: v for k, v in V.items() if k.startswith("wechat")}
    canonical = json.dumps(wechat, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert len(wechat) == 5 and all(wechat.values())
    assert hashlib.sha256(canonical.encode()).hexdigest() == COPIED, (
        f"{VECTORS} differs from the WeChat entries of shared/vectors/channels.json"
    )


@pytest.mark.parametrize("v", V["wechat_plain_signature"], ids=lambda v: v["token"])
def test_plain_signature_vectors(v):
    assert sign(v["token"], v["timestamp"], v["nonce"]) == v["signature"]
    WeChatCrypto(v["token"], "wx", []).check(v["signature"], v["timestamp"], v["nonce"])
    with pytest.raises(SignatureError):
        WeChatCrypto(v["token"], "wx", []).check(
            v["signature"], v["timestamp"], str(int(v["nonce"]) + 1)
        )


def test_official_mp_sample_decrypts_and_reencrypts_byte_for_byte():
    v = V["wechat_oa_safe_mode_decrypt"]
    crypto = WeChatCrypto(v["token"], v["appid"], [v["encoding_aes_key"]])
    assert crypto.decrypt(v["encrypt"], v["msg_signature"], v["timestamp"], v["nonce"]) == (
        v["plaintext_xml"],
        0,
    )
    encrypt, signature = crypto.encrypt(
        v["plaintext_xml"], 0, v["timestamp"], v["nonce"], v["random16"].encode()
    )
    assert (encrypt, signature) == (v["encrypt"], v["msg_signature"])
    assert parse(v["plaintext_xml"])["Content"] == "abcdteT"


def test_official_wecom_sample_message_and_echostr():
    v = V["wechat_wecom_official_decrypt"]
    crypto = WeChatCrypto(v["token"], v["receiveid"], [v["encoding_aes_key"]])
    xml, _ = crypto.decrypt(v["encrypt"], v["msg_signature"], v["timestamp"], v["nonce"])
    assert xml == v["plaintext_xml"] and parse(xml)["MsgId"] == "4561255354251345929"
    e = v["echostr_check"]
    assert (
        crypto.decrypt(e["echostr"], e["msg_signature"], e["timestamp"], e["nonce"])[0]
        == e["plaintext"]
    )


def test_wechatpy_vectors_echostr_deterministic_encrypt_and_decrypt():
    v = V["wechatpy_tests_test_crypto_py"]
    crypto = WeChatCrypto(v["token"], v["receiveid"], [v["encoding_aes_key"]])
    e = v["echostr_check"]
    assert (
        crypto.decrypt(e["echostr"], e["signature"], e["timestamp"], e["nonce"])[0]
        == e["plaintext"]
    )
    with pytest.raises(SignatureError):
        crypto.decrypt(e["echostr"], e["signature"], e["timestamp"], "437374424")
    d = v["deterministic_encrypt"]
    assert crypto.encrypt(
        d["plaintext_xml"], 0, d["timestamp"], d["nonce"], d["random16_ascii"].encode()
    ) == (d["encrypt"], d["msg_signature"])
    x = v["decrypt"]
    fields = parse(crypto.decrypt(x["encrypt"], x["msg_signature"], x["timestamp"], x["nonce"])[0])
    assert {k: fields[k] for k in x["expect"]} == x["expect"]


def test_message_length_counts_utf8_bytes():
    v = V["wechat_utf8_len_vector"]
    crypto = WeChatCrypto(v["token"], v["receiveid"], [v["encoding_aes_key"]])
    xml, _ = crypto.decrypt(v["encrypt"], v["msg_signature"], v["timestamp"], v["nonce"])
    assert xml == v["plaintext_xml"] and parse(xml)["Content"] == "加密消息应答"


# round trips and strict checks -----------------------------------------------------------
@pytest.mark.parametrize(
    "text", ["卖50斤苹果 三块五一斤", "", "x" * 31, "x" * 32, "😀" * 100, "a]]>b"]
)
def test_round_trip_any_length_and_chinese(text):
    key = aes_key(KEY)
    assert unseal(key, APP_ID, seal(key, APP_ID, text)) == text


def test_padding_is_to_32_bytes():
    for n in range(70):
        data = base64.b64decode(seal(aes_key(KEY), APP_ID, "x" * n))
        assert len(data) % 32 == 0 and len(data) >= 20 + n + len(APP_ID) + 1


@pytest.mark.parametrize(
    "tail",
    [b"\x00" * 32, b"\x21" * 32, b"\x00" * 27 + b"\x05\x05\x04\x05\x05", b"\x00" * 31 + b"\x20"],
)
def test_bad_padding_is_refused(tail):
    plain = layout("hello")
    plain += b"\x00" * (-len(plain) % 32)  # whole blocks, then a last block of bad padding
    with pytest.raises(DecryptError, match="padding"):
        unseal(aes_key(KEY), APP_ID, raw_encrypt(KEY, plain + tail))


def test_padding_to_16_bytes_like_plain_aes_is_refused():
    plain = layout("hi")
    pad = 16 - len(plain) % 16
    plain += bytes([pad]) * pad
    if len(plain) % 32 == 0:  # make it a 16-byte multiple that is not a 32-byte one
        plain = layout("hi!" * 6)
        plain += bytes([16 - len(plain) % 16]) * (16 - len(plain) % 16)
    assert len(plain) % 32 == 16
    with pytest.raises(DecryptError):
        unseal(aes_key(KEY), APP_ID, raw_encrypt(KEY, plain))


@pytest.mark.parametrize(
    "encrypt, error",
    [
        ("not base64!", DecryptError),
        ("", DecryptError),
        (base64.b64encode(b"x" * 20).decode(), DecryptError),
    ],
)
def test_garbage_is_refused(encrypt, error):
    with pytest.raises(error):
        unseal(aes_key(KEY), APP_ID, encrypt)


def test_a_length_past_the_end_and_another_appid_are_refused():
    def sealed(plain: bytes) -> str:
        n = 32 - len(plain) % 32
        return raw_encrypt(KEY, plain + bytes([n]) * n)

    with pytest.raises(DecryptError, match="length"):
        unseal(aes_key(KEY), APP_ID, sealed(layout("hello", length=10_000)))
    with pytest.raises(AppIdError):
        unseal(aes_key(KEY), APP_ID, seal(aes_key(KEY), "wx0000000000000000", "hello"))
    with pytest.raises(AppIdError):  # a shorter length moves the text into the AppID tail
        unseal(aes_key(KEY), APP_ID, sealed(layout("hello", length=4)))


def test_msg_signature_is_checked_before_decrypting():
    crypto = WeChatCrypto("spamtest", APP_ID, [KEY])
    bad_padding = raw_encrypt(KEY, layout("x") + b"\x00" * (32 - len(layout("x")) % 32))
    with pytest.raises(SignatureError):  # not DecryptError: no padding oracle for forgers
        crypto.decrypt(bad_padding, "0" * 40, "1409735669", "1320562132")
    with pytest.raises(DecryptError):
        crypto.decrypt(bad_padding, sign("spamtest", "1", "2", bad_padding), "1", "2")


def test_signature_compare_is_constant_time_and_total():
    assert signature_ok("abc", "abc") and not signature_ok("abc", "abd")
    assert not signature_ok("abc", None) and not signature_ok("abc", "签名")


def test_previous_key_works_during_rotation_and_the_reply_uses_it():
    old = WeChatCrypto("spamtest", APP_ID, [OLD_KEY])
    rotated = WeChatCrypto("spamtest", APP_ID, [KEY, OLD_KEY])
    encrypt, signature = old.encrypt("<xml>老</xml>", 0, "1", "2")
    xml, index = rotated.decrypt(encrypt, signature, "1", "2")
    assert (xml, index) == ("<xml>老</xml>", 1)
    reply, reply_sig = rotated.encrypt("<xml>答</xml>", index, "3", "4")
    assert old.decrypt(reply, reply_sig, "3", "4")[0] == "<xml>答</xml>"
    with pytest.raises((DecryptError, AppIdError)):  # the current key alone cannot read it
        WeChatCrypto("spamtest", APP_ID, [KEY]).decrypt(encrypt, signature, "1", "2")


# wechatpy as an independent implementation -----------------------------------------------
def test_wechatpy_reads_what_we_encrypt_and_we_read_what_it_encrypts():
    from wechatpy.crypto import WeChatCrypto as PyCrypto
    from wechatpy.parser import parse_message

    theirs, ours = PyCrypto("spamtest", KEY, APP_ID), WeChatCrypto("spamtest", APP_ID, [KEY])
    message = render(
        [
            ("ToUserName", "gh_x"),
            ("FromUserName", "oUser"),
            ("CreateTime", 1700000000),
            ("MsgType", "text"),
            ("Content", "我要买20斤苹果"),
            ("MsgId", 6054768590064713728),
        ]
    )
    envelope = parse(theirs.encrypt_message(message, "12345", "1700000000"))
    assert (
        ours.decrypt(envelope["Encrypt"], envelope["MsgSignature"], "1700000000", "12345")[0]
        == message
    )
    encrypt, signature = ours.encrypt(
        text_reply("oUser", "gh_x", "已发布101号：苹果50斤", 1700000001), 0, "7", "8"
    )
    xml = theirs.decrypt_message(
        render([("ToUserName", "gh_x"), ("Encrypt", encrypt)]), signature, "7", "8"
    )
    reply = parse_message(xml)
    assert (reply.target, reply.source, reply.content) == (
        "oUser",
        "gh_x",
        "已发布101号：苹果50斤",
    )


def test_cdata_survives_a_closing_marker_in_user_text():
    from wechatpy.parser import parse_message

    hostile = "a]]><MsgType>image</MsgType><![CDATA[b]]>"
    xml = text_reply("oUser", "gh_x", hostile, 1)
    assert parse(xml)["Content"] == hostile and parse(xml)["MsgType"] == "text"
    assert parse_message(xml).content == hostile
    assert cdata("bell\x07") == "<![CDATA[bell]]>"  # not representable in XML 1.0


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;">]><xml><Content>&c;</Content></xml>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<xml><C>&e;</C></xml>",
        b"<!DOCTYPE xml><xml><C>1</C></xml>",
        b"<xml><C>unclosed</xml>",
        b"<notxml><C>1</C></notxml>",
        b"",
        "<xml>\u00e9</xml>".encode("latin-1"),
    ],
)
def test_bombs_dtds_and_broken_xml_are_refused(body):
    with pytest.raises(XmlError):
        parse(body)


def test_events_dedupe_on_user_time_event_and_key():
    base = {"ToUserName": "gh", "FromUserName": "oU", "CreateTime": "123", "MsgType": "event"}
    click = Push.from_fields({**base, "Event": "CLICK", "EventKey": "SELL"})
    other = Push.from_fields({**base, "Event": "CLICK", "EventKey": "BUY"})
    text = Push.from_fields({**base, "MsgType": "text", "Content": "hi", "MsgId": "99"})
    assert click.message_id == "oU|123|click|SELL" and other.message_id != click.message_id
    assert text.message_id == "99"
    for bad in ("soon", "9" * 30, "-1"):
        with pytest.raises(XmlError):
            Push.from_fields({**base, "CreateTime": bad})
