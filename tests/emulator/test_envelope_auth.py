"""The envelope on every response, request ids, and authentication."""

from __future__ import annotations

import aiohttp
import pytest

from .helpers import Env, auth, call, studies_url, study_url


class TestEnvelope:
    async def test_success_envelope_and_request_id(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A success is {"success": true, "data": ...} with a req_ request id header."""
        reply = await call(client, "GET", studies_url(emulator))
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("application/json")
        assert reply.headers["X-Request-Id"].startswith("req_")
        assert {"studies", "pagination"} == set(reply.data)

    async def test_request_ids_are_unique(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """Each response gets its own request id."""
        ids = {(await call(client, "GET", studies_url(emulator))).headers["X-Request-Id"]}
        ids.add((await call(client, "GET", studies_url(emulator))).headers["X-Request-Id"])
        assert len(ids) == 2

    async def test_unknown_route_is_not_found(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """An unknown path answers 404 NOT_FOUND in the envelope."""
        reply = await call(client, "GET", f"{emulator.base_url}/no/such/thing")
        reply.error(404, "NOT_FOUND")
        reply = await call(client, "GET", f"{emulator.emu.origin}/elsewhere")
        reply.error(404, "NOT_FOUND")

    async def test_wrong_method_is_method_not_allowed(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A known path with a wrong method answers 405 METHOD_NOT_ALLOWED with Allow."""
        reply = await call(client, "PUT", studies_url(emulator))
        reply.error(405, "METHOD_NOT_ALLOWED")
        assert "GET" in reply.headers["Allow"]

    async def test_unexpected_exception_is_internal_error(
        self, emulator: Env, client: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A bug inside a handler becomes 500 INTERNAL_ERROR in the envelope, not a traceback."""

        def broken(*args: object) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(emulator.emu._state, "study_json", broken)
        reply = await call(client, "GET", study_url(emulator))
        error = reply.error(500, "INTERNAL_ERROR")
        assert "boom" not in error["message"]


class TestAuthentication:
    async def test_bearer_and_x_api_key_are_both_accepted(
        self, emulator: Env, anonymous: aiohttp.ClientSession
    ) -> None:
        """Authorization: Bearer and X-API-Key both authenticate."""
        url = studies_url(emulator)
        bearer = await call(anonymous, "GET", url, headers=auth(emulator.api_key))
        header = await call(anonymous, "GET", url, headers={"X-API-Key": emulator.api_key})
        assert (bearer.status, header.status) == (200, 200)

    @pytest.mark.parametrize(
        "headers",
        [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}],
    )
    async def test_no_key_is_unauthenticated(
        self, emulator: Env, anonymous: aiohttp.ClientSession, headers: dict[str, str]
    ) -> None:
        """No usable key at all -> 401 UNAUTHENTICATED."""
        reply = await call(anonymous, "GET", studies_url(emulator), headers=headers)
        reply.error(401, "UNAUTHENTICATED")

    @pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
    async def test_wrong_key_is_invalid_api_key(
        self, emulator: Env, anonymous: aiohttp.ClientSession, header: str
    ) -> None:
        """An unknown key -> 401 INVALID_API_KEY, whichever header carries it."""
        value = "sk_live_wrong"
        headers = {header: f"Bearer {value}" if header == "Authorization" else value}
        reply = await call(anonymous, "GET", studies_url(emulator), headers=headers)
        reply.error(401, "INVALID_API_KEY")

    async def test_revoked_key_is_invalid_api_key(
        self, emulator: Env, anonymous: aiohttp.ClientSession
    ) -> None:
        """A revoked key -> 401 INVALID_API_KEY, with the same body as a wrong key."""
        wrong = await call(anonymous, "GET", studies_url(emulator), headers=auth("sk_live_x"))
        emulator.emu.revoke_key(emulator.api_key)
        reply = await call(anonymous, "GET", studies_url(emulator), headers=auth(emulator.api_key))
        reply.error(401, "INVALID_API_KEY")
        assert wrong.raw == reply.raw

    async def test_revoke_by_key_id(self, emulator: Env, anonymous: aiohttp.ClientSession) -> None:
        """revoke_key also takes the key id (pk_...)."""
        emulator.emu.revoke_key(emulator.emu.partner_key_id)
        reply = await call(anonymous, "GET", studies_url(emulator), headers=auth(emulator.api_key))
        reply.error(401, "INVALID_API_KEY")

    async def test_inactive_partner_is_invalid_api_key(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A deactivated partner's key -> 401 INVALID_API_KEY."""
        emulator.emu.set_partner_status(emulator.emu.partner, active=False)
        (await call(client, "GET", studies_url(emulator))).error(401, "INVALID_API_KEY")

    async def test_trial_expired_partner(
        self, emulator: Env, anonymous: aiohttp.ClientSession
    ) -> None:
        """A partner whose trial expired -> 403 TRIAL_EXPIRED."""
        partner = emulator.emu.add_partner(trial_expired=True)
        customer = emulator.emu.add_customer(partner=partner)
        url = studies_url(emulator, customer)
        reply = await call(anonymous, "GET", url, headers=auth(partner.api_key))
        reply.error(403, "TRIAL_EXPIRED")

    async def test_another_partners_customer_is_not_found(
        self, emulator: Env, anonymous: aiohttp.ClientSession
    ) -> None:
        """A customer of another partner is indistinguishable from an unknown one."""
        other = emulator.emu.add_partner("Other")
        unknown = await call(
            anonymous, "GET", studies_url(emulator, "pc_9_1"), headers=auth(other.api_key)
        )
        theirs = await call(anonymous, "GET", studies_url(emulator), headers=auth(other.api_key))
        unknown.error(404, "CUSTOMER_NOT_FOUND")
        theirs.error(404, "CUSTOMER_NOT_FOUND")
        assert unknown.raw == theirs.raw

    async def test_partners_have_distinct_keys_and_key_ids(self, emulator: Env) -> None:
        """add_partner returns a fresh sk_live_ key and a pk_<partner>_<n> key id."""
        other = emulator.emu.add_partner()
        assert other.api_key.startswith("sk_live_")
        assert other.api_key != emulator.api_key
        assert f"pk_{other.partner_id}_1" == other.key_id
        assert emulator.emu.partner_key_id == "pk_1_1"

    async def test_given_api_key_is_used(self) -> None:
        """Emulator(api_key=...) accepts exactly that key."""
        from bigmind_async.emulator import Emulator

        async with Emulator(api_key="sk_live_fixed") as emu, aiohttp.ClientSession() as s:
            customer = emu.add_customer()
            url = f"{emu.base_url}/customers/{customer}/dicom-studies"
            assert (await call(s, "GET", url, headers=auth("sk_live_fixed"))).status == 200
