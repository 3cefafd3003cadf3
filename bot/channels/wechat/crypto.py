"""WeChat signatures and safe-mode (AES) message crypto, checked strictly (CHANNELS.md A1, A4).

Written on `cryptography` rather than taken from wechatpy, whose decrypt compares signatures
with `!=`, does not check the padding and has no key rotation (CHANNELS.md A6).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_BITS = 256  # WeChat pads to 32 bytes, not AES's 16


class CryptoError(Exception):
    """A request that fails a check; `status` is the HTTP answer it gets."""

    status = 400


class SignatureError(CryptoError):
    status = 403


class AppIdError(CryptoError):
    status = 403


class DecryptError(CryptoError):
    """Bad base64, bad block length, bad padding, a bad length field or not UTF-8."""


def sign(*parts: str) -> str:
    """sha1 over the parts sorted and joined: `signature` (token, timestamp, nonce) and
    `msg_signature` (the same plus Encrypt)."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signature_ok(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a hex signature."""
    return given is not None and hmac.compare_digest(
        expected.encode(), given.encode("utf-8", "replace")
    )


def aes_key(encoding_aes_key: str) -> bytes:
    """The 43-character EncodingAESKey → the 32-byte AES key."""
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


def _cipher(key: bytes) -> Cipher:
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def seal(key: bytes, app_id: str, text: str, random16: bytes | None = None) -> str:
    """random(16) || len (4, big-endian) || text || app_id, PKCS#7 to 32, AES-256-CBC, base64."""
    body = text.encode()
    plain = (random16 or os.urandom(16)) + struct.pack(">I", len(body)) + body + app_id.encode()
    padder = padding.PKCS7(BLOCK_BITS).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = _cipher(key).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def unseal(key: bytes, app_id: str, encrypt: str) -> str:
    """The inverse of seal; DecryptError or AppIdError when any check fails."""
    try:
        data = base64.b64decode(encrypt, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptError("Encrypt is not base64") from None
    if not data or len(data) % 16:
        raise DecryptError("ciphertext is not whole AES blocks")
    decryptor = _cipher(key).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(BLOCK_BITS).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptError("bad PKCS#7 padding") from None
    if len(plain) < 20:
        raise DecryptError("plaintext too short")
    (length,) = struct.unpack(">I", plain[16:20])
    if 20 + length > len(plain):
        raise DecryptError("length field past the end")
    if not hmac.compare_digest(plain[20 + length :], app_id.encode()):
        raise AppIdError("message is for another AppID")
    try:
        return plain[20 : 20 + length].decode()
    except UnicodeDecodeError:
        raise DecryptError("message is not UTF-8") from None


class WeChatCrypto:
    """One Official Account's token, AppID and keys (current first, previous during rotation)."""

    def __init__(self, token: str, app_id: str, encoding_aes_keys: list[str]):
        self.token, self.app_id = token, app_id
        self.keys = [aes_key(k) for k in encoding_aes_keys]

    def check(self, signature: str | None, timestamp: str, nonce: str) -> None:
        """The `signature` every request carries; SignatureError when it is wrong."""
        if not signature_ok(sign(self.token, timestamp, nonce), signature):
            raise SignatureError("wrong signature")

    def decrypt(
        self, encrypt: str, msg_signature: str | None, timestamp: str, nonce: str
    ) -> tuple[str, int]:
        """Check msg_signature first, then decrypt; (plaintext, index of the key that worked)."""
        if not signature_ok(sign(self.token, timestamp, nonce, encrypt), msg_signature):
            raise SignatureError("wrong msg_signature")
        first: CryptoError | None = None
        for index, key in enumerate(self.keys):
            try:
                return unseal(key, self.app_id, encrypt), index
            except CryptoError as exc:
                first = first or exc
        raise first or DecryptError("no key configured")

    def encrypt(
        self, text: str, key_index: int, timestamp: str, nonce: str, random16: bytes | None = None
    ) -> tuple[str, str]:
        """(Encrypt, MsgSignature) for a reply, with the key the request was decrypted with."""
        encrypt = seal(self.keys[key_index], self.app_id, text, random16)
        return encrypt, sign(self.token, timestamp, nonce, encrypt)
