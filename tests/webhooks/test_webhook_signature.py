"""Signature verification: HMAC-SHA256 over the raw bytes, hex, constant-time, strict header."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from webhook_helpers import SECRET, sign

from bigmind_async.errors import ConfigurationError, InvalidResponseError, WebhookSignatureError
from bigmind_async.webhooks import compute_signature, construct_event, verify_signature

BODY = b'{"event":"customer.created","timestamp":"2026-05-13T15:42:11.000Z","data":{"id":"pc_1"}}'


class TestKnownVectors:
    def test_rfc_4231_vector(self) -> None:
        """RFC 4231 test case 2, a digest no code in this repo computed."""
        expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        assert expected == compute_signature(b"what do ya want for nothing?", b"Jefe")
        assert verify_signature(b"what do ya want for nothing?", expected, b"Jefe")

    def test_matches_plain_hmac(self) -> None:
        """The signature is hmac.new(secret, body, sha256).hexdigest(), lowercase."""
        expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
        assert expected == compute_signature(BODY, SECRET)
        assert verify_signature(BODY, expected, SECRET)

    def test_empty_body(self) -> None:
        """An empty body is still signed input, not an error."""
        assert verify_signature(b"", sign(b""), SECRET)


class TestVerifySignature:
    @pytest.mark.parametrize("index", [0, len(BODY) // 2, len(BODY) - 1])
    def test_one_flipped_byte_fails(self, index: int) -> None:
        """A body with any one byte changed no longer verifies."""
        tampered = bytearray(BODY)
        tampered[index] ^= 0x01
        assert not verify_signature(bytes(tampered), sign(BODY), SECRET)

    def test_wrong_secret_fails(self) -> None:
        """A signature made under another secret does not verify."""
        assert not verify_signature(BODY, sign(BODY, "whsec_other"), SECRET)

    def test_appended_byte_fails(self) -> None:
        """Trailing bytes (a framework adding a newline) break the signature."""
        assert not verify_signature(BODY + b"\n", sign(BODY), SECRET)

    @pytest.mark.parametrize(
        ("body", "secret"),
        [
            (BODY, SECRET),
            (BODY.decode(), SECRET),
            (BODY, SECRET.encode()),
            (BODY.decode(), SECRET.encode()),
        ],
    )
    def test_bytes_or_str(self, body: bytes | str, secret: bytes | str) -> None:
        """Body and secret may each be bytes or str; str is encoded UTF-8."""
        assert verify_signature(body, sign(BODY), secret)

    def test_non_ascii_str_body_encodes_utf8(self) -> None:
        """A str body is signed as its UTF-8 bytes."""
        text = '{"event":"customer.updated","data":{"name":"Zoë Müller"}}'
        assert verify_signature(text, sign(text.encode("utf-8")), SECRET)

    @pytest.mark.parametrize("wrap", [bytearray, memoryview])
    def test_bytes_like_body(self, wrap: Any) -> None:
        """bytearray and memoryview bodies verify like bytes."""
        assert verify_signature(wrap(BODY), sign(BODY), SECRET)

    def test_bytes_header(self) -> None:
        """A header given as bytes (raw ASGI headers) verifies too."""
        assert verify_signature(BODY, sign(BODY).encode("ascii"), SECRET)


class TestHeaderNormalisation:
    @pytest.mark.parametrize("template", [" {} ", "{}\t", "\t {}", "{}\r\n", "\n{}"])
    def test_surrounding_whitespace_is_stripped(self, template: str) -> None:
        """Whitespace around the value (HTTP optional whitespace) is not part of it."""
        assert verify_signature(BODY, template.format(sign(BODY)), SECRET)

    def test_uppercase_hex_accepted(self) -> None:
        """Hex case carries no information, so UPPERCASE verifies."""
        assert verify_signature(BODY, sign(BODY).upper(), SECRET)

    def test_mixed_case_hex_accepted(self) -> None:
        """Mixed case verifies as well."""
        digest = sign(BODY)
        mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(digest))
        assert verify_signature(BODY, mixed, SECRET)

    @pytest.mark.parametrize(
        "header",
        [
            pytest.param(None, id="missing"),
            pytest.param("", id="empty"),
            pytest.param("   ", id="blank"),
            pytest.param("g" * 64, id="non-hex"),
            pytest.param("0" * 63, id="short"),
            pytest.param("0" * 65, id="long"),
            pytest.param("0" * 62, id="short-even"),
            pytest.param("0" * 66, id="long-even"),
        ],
    )
    def test_malformed_header_is_false(self, header: str | None) -> None:
        """A missing, empty, non-hex or wrong-length header is a clean False."""
        assert not verify_signature(BODY, header, SECRET)

    def test_truncated_digest_is_false(self) -> None:
        """A valid digest cut short does not verify (no prefix matching)."""
        assert not verify_signature(BODY, sign(BODY)[:32], SECRET)

    def test_doubled_digest_is_false(self) -> None:
        """The right digest repeated is the wrong length."""
        assert not verify_signature(BODY, sign(BODY) * 2, SECRET)

    def test_prefixed_digest_is_false(self) -> None:
        """A ``sha256=`` prefix is not the documented format and is refused."""
        assert not verify_signature(BODY, "sha256=" + sign(BODY), SECRET)

    def test_inner_whitespace_is_false(self) -> None:
        """Whitespace inside the digest is refused (bytes.fromhex alone would accept it)."""
        digest = sign(BODY)
        assert not verify_signature(BODY, digest[:32] + " " + digest[32:], SECRET)

    def test_non_ascii_digits_are_false(self) -> None:
        """Fullwidth digits are not hex digits."""
        assert not verify_signature(BODY, "\uff10" * 64, SECRET)

    def test_non_ascii_bytes_header_is_false(self) -> None:
        """A bytes header that is not ASCII is a clean False."""
        assert not verify_signature(BODY, b"\xff" * 64, SECRET)


class TestMisuse:
    @pytest.mark.parametrize("secret", ["", b"", None])
    def test_missing_secret_is_configuration_error(self, secret: Any) -> None:
        """An empty secret proves nothing: a configuration error, not False."""
        with pytest.raises(ConfigurationError, match="secret"):
            verify_signature(BODY, sign(BODY), secret)

    def test_wrong_body_type_is_type_error(self) -> None:
        """A parsed body (a dict) is a receiver bug, named as such."""
        with pytest.raises(TypeError, match="raw_body"):
            verify_signature({"event": "x"}, sign(BODY), SECRET)  # type: ignore[arg-type]


class TestSignatureProperties:
    @given(body=st.binary(max_size=2048), secret=st.binary(min_size=1, max_size=64))
    def test_any_signed_body_verifies(self, body: bytes, secret: bytes) -> None:
        """Whatever the bytes, the body signed with the secret verifies."""
        assert verify_signature(body, sign(body, secret), secret)

    @given(
        body=st.binary(min_size=1, max_size=2048),
        data=st.data(),
    )
    def test_any_single_byte_change_fails(self, body: bytes, data: st.DataObject) -> None:
        """Changing any one byte to any other value breaks the signature."""
        index = data.draw(st.integers(0, len(body) - 1), label="index")
        new = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]), label="byte")
        tampered = body[:index] + bytes([new]) + body[index + 1 :]
        assert not verify_signature(tampered, sign(body), SECRET)

    @given(body=st.binary(max_size=512))
    def test_signature_under_one_secret_fails_under_another(self, body: bytes) -> None:
        """A signature does not carry over to a different secret."""
        assert not verify_signature(body, sign(body, "whsec_a"), "whsec_b")


class TestConstructEventVerifiesFirst:
    @pytest.mark.parametrize(
        ("header", "reason"),
        [
            (None, "no X-Webhook-Signature"),
            ("", "empty"),
            ("xyz", "not 64 hex digits"),
            ("0" * 64, "does not match"),
        ],
    )
    def test_bad_header_raises_signature_error(self, header: str | None, reason: str) -> None:
        """Each kind of bad header raises WebhookSignatureError saying which kind."""
        with pytest.raises(WebhookSignatureError, match=reason) as caught:
            construct_event(BODY, header, SECRET)
        expected = "WEBHOOK_SIGNATURE_INVALID"
        assert expected == caught.value.code

    def test_unsigned_garbage_is_a_signature_error(self) -> None:
        """A body that is not JSON and not signed fails on the signature: it is never parsed."""
        with pytest.raises(WebhookSignatureError):
            construct_event(b"{not json", sign(BODY), SECRET)

    def test_signed_garbage_is_not_a_signature_error(self) -> None:
        """The same body, correctly signed, gets past verification and fails parsing."""
        with pytest.raises(InvalidResponseError):
            construct_event(b"{not json", sign(b"{not json"), SECRET)

    def test_error_message_keeps_secrets_out(self) -> None:
        """Neither the secret nor the expected digest appears in the error."""
        with pytest.raises(WebhookSignatureError) as caught:
            construct_event(BODY, "0" * 64, SECRET)
        assert SECRET not in str(caught.value)
        assert sign(BODY) not in str(caught.value)
