"""WebhookRouter: dispatch by event name, answers, sync and aiohttp receivers."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict
from webhook_helpers import DETACHED, SECRET, Receiver, envelope, now_iso, sign

from bigmind_async._models import ReportAttachedData, WebhookEvent
from bigmind_async.errors import ConfigurationError
from bigmind_async.webhooks import SIGNATURE_HEADER, WebhookResponse, WebhookRouter

ACCEPTED = WebhookResponse(200, b'{"received":true}')
BAD_SIGNATURE = WebhookResponse(400, b'{"received":false,"error":"WEBHOOK_SIGNATURE_INVALID"}')
BAD_PAYLOAD = WebhookResponse(400, b'{"received":false,"error":"INVALID_RESPONSE"}')


def headers_for(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(body, secret), "Content-Type": "application/json"}


@pytest.fixture
def router() -> WebhookRouter:
    return WebhookRouter(SECRET)


@pytest.fixture
def seen() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.ERROR, logger="bigmind_async.webhooks"):
        yield caplog


def callback_errors(log: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in log.records if r.levelno >= logging.ERROR and "callback" in r.msg]


class TestDispatch:
    async def test_async_callback_gets_the_typed_event(
        self, router: WebhookRouter, attached_body: bytes
    ) -> None:
        """An async callback registered for the name receives the parsed event."""
        received: list[WebhookEvent] = []

        @router.on("dicom.report.attached")
        async def on_attached(event: WebhookEvent) -> None:
            received.append(event)

        assert ACCEPTED == await router.handle(headers_for(attached_body), attached_body)
        assert 1 == len(received)
        assert isinstance(received[0].data, ReportAttachedData)

    async def test_sync_callback_runs_in_a_worker_thread(
        self, router: WebhookRouter, attached_body: bytes
    ) -> None:
        """In the async path, a sync callback runs off the event loop's thread."""
        threads: list[int] = []

        @router.on("dicom.report.attached")
        def on_attached(event: WebhookEvent) -> None:
            threads.append(threading.get_ident())

        await router.handle(headers_for(attached_body), attached_body)
        assert 1 == len(threads)
        assert threading.get_ident() != threads[0]

    async def test_per_name_then_catch_all_in_registration_order(
        self, router: WebhookRouter, seen: list[tuple[str, str]], attached_body: bytes
    ) -> None:
        """Callbacks for the name run first, then the catch-all ones, each in order."""

        @router.on_any
        def any_first(event: WebhookEvent) -> None:
            seen.append(("any-1", event.event))

        @router.on("dicom.report.attached")
        async def named_first(event: WebhookEvent) -> None:
            seen.append(("named-1", event.event))

        @router.on("dicom.report.attached")
        def named_second(event: WebhookEvent) -> None:
            seen.append(("named-2", event.event))

        @router.on_any
        async def any_second(event: WebhookEvent) -> None:
            seen.append(("any-2", event.event))

        await router.handle(headers_for(attached_body), attached_body)
        name = "dicom.report.attached"
        expected = [("named-1", name), ("named-2", name), ("any-1", name), ("any-2", name)]
        assert expected == seen

    async def test_one_callback_for_several_names(
        self, router: WebhookRouter, seen: list[tuple[str, str]]
    ) -> None:
        """on() takes several names."""

        @router.on("customer.created", "customer.deleted")
        def customers(event: WebhookEvent) -> None:
            seen.append(("customers", event.event))

        for name in ("customer.created", "customer.updated", "customer.deleted"):
            body = envelope(name, {"id": "pc_1"})
            await router.handle(headers_for(body), body)
        expected = [("customers", "customer.created"), ("customers", "customer.deleted")]
        assert expected == seen

    async def test_unhandled_event_is_still_accepted(
        self, router: WebhookRouter, seen: list[tuple[str, str]]
    ) -> None:
        """An event nobody registered for (even an unknown one) gets 200 and the catch-all."""

        @router.on("dicom.report.attached")
        def never(event: WebhookEvent) -> None:
            seen.append(("never", event.event))

        @router.on_any
        def every(event: WebhookEvent) -> None:
            seen.append(("any", event.event))

        body = envelope("brand.new.event", {"x": 1})
        assert ACCEPTED == await router.handle(headers_for(body), body)
        expected = [("any", "brand.new.event")]
        assert expected == seen

    def test_decorators_return_the_function(self, router: WebhookRouter) -> None:
        """The decorated functions stay usable as they were."""

        def callback(event: WebhookEvent) -> None:
            pass

        assert callback is router.on("credits.low")(callback)
        assert callback is router.on_any(callback)

    @pytest.mark.parametrize("names", [(), ("",)])
    def test_on_needs_names(self, router: WebhookRouter, names: tuple[str, ...]) -> None:
        """on() without a usable event name is refused at registration."""
        with pytest.raises(ValueError, match="event name"):
            router.on(*names)


class TestAnswers:
    async def test_accepted_answer(self, router: WebhookRouter, attached_body: bytes) -> None:
        """A verified delivery gets 200 with a small JSON body; the answer unpacks as a pair."""
        status, body = await router.handle(headers_for(attached_body), attached_body)
        expected = (200, {"received": True})
        assert expected == (status, json.loads(body))
        assert "application/json" == ACCEPTED.headers["Content-Type"]

    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param({}, id="missing"),
            pytest.param({SIGNATURE_HEADER: ""}, id="empty"),
            pytest.param({SIGNATURE_HEADER: "0" * 64}, id="wrong"),
            pytest.param({SIGNATURE_HEADER: sign(b"other")}, id="other-body"),
        ],
    )
    async def test_bad_signature_is_400_and_dispatches_nothing(
        self,
        router: WebhookRouter,
        seen: list[tuple[str, str]],
        attached_body: bytes,
        headers: dict[str, str],
    ) -> None:
        """A delivery that fails verification gets 400 and reaches no callback."""
        router.on_any(lambda event: seen.append(("any", event.event)))
        assert BAD_SIGNATURE == await router.handle(headers, attached_body)
        assert not seen

    async def test_wrong_secret_is_400(self, router: WebhookRouter, attached_body: bytes) -> None:
        """A delivery signed under another secret gets 400."""
        headers = headers_for(attached_body, "whsec_other")
        assert BAD_SIGNATURE == await router.handle(headers, attached_body)

    async def test_signed_malformed_body_is_400(
        self, router: WebhookRouter, seen: list[tuple[str, str]]
    ) -> None:
        """A signed body that is not an event gets 400 naming a payload problem."""
        router.on_any(lambda event: seen.append(("any", event.event)))
        body = b"{not json"
        assert BAD_PAYLOAD == await router.handle(headers_for(body), body)
        assert not seen

    async def test_stale_event_is_400_with_tolerance(self) -> None:
        """A router with a tolerance refuses an hour-old event."""
        router = WebhookRouter(SECRET, tolerance=timedelta(minutes=5))
        body = json.dumps(
            {"event": "credits.low", "timestamp": now_iso(timedelta(hours=-1)), "data": {}}
        ).encode()
        status, answer = await router.handle(headers_for(body), body)
        expected = (400, "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE")
        assert expected == (status, json.loads(answer)["error"])

    @pytest.mark.parametrize(
        "make_headers",
        [
            pytest.param(lambda sig: {"x-webhook-signature": sig}, id="lowercase-dict"),
            pytest.param(lambda sig: {"X-WEBHOOK-SIGNATURE": sig}, id="uppercase-dict"),
            pytest.param(lambda sig: CIMultiDict({"x-webhook-signature": sig}), id="multidict"),
        ],
    )
    async def test_header_name_is_case_insensitive(
        self, router: WebhookRouter, attached_body: bytes, make_headers: Any
    ) -> None:
        """The signature header is found whatever its case and mapping type."""
        headers = make_headers(sign(attached_body))
        assert ACCEPTED == await router.handle(headers, attached_body)

    async def test_repeated_signature_header_is_400(
        self, router: WebhookRouter, attached_body: bytes
    ) -> None:
        """Two signature headers are ambiguous, even when one is right."""
        headers = CIMultiDict([(SIGNATURE_HEADER, sign(attached_body))])
        headers.add(SIGNATURE_HEADER, "0" * 64)
        assert BAD_SIGNATURE == await router.handle(headers, attached_body)

    async def test_failing_callback_still_answers_200(
        self,
        router: WebhookRouter,
        seen: list[tuple[str, str]],
        log: pytest.LogCaptureFixture,
        attached_body: bytes,
    ) -> None:
        """A callback's exception is logged, the others still run, and the sender gets 200."""

        @router.on("dicom.report.attached")
        async def broken(event: WebhookEvent) -> None:
            raise RuntimeError("database down")

        router.on_any(lambda event: seen.append(("any", event.event)))
        assert ACCEPTED == await router.handle(headers_for(attached_body), attached_body)
        assert [("any", "dicom.report.attached")] == seen
        errors = callback_errors(log)
        assert 1 == len(errors)
        assert "dicom.report.attached" in errors[0].getMessage()
        assert errors[0].exc_info is not None


class TestRouterConstruction:
    @pytest.mark.parametrize("secret", ["", b"", None])
    def test_missing_secret_is_refused(self, secret: Any) -> None:
        """A router without a secret fails at construction, not on the first delivery."""
        with pytest.raises(ConfigurationError, match="secret"):
            WebhookRouter(secret)

    def test_bad_tolerance_is_refused(self) -> None:
        """A negative tolerance fails at construction."""
        with pytest.raises(ValueError, match="tolerance"):
            WebhookRouter(SECRET, tolerance=-5)

    def test_repr_hides_the_secret(self, router: WebhookRouter) -> None:
        """The secret never shows in repr()."""
        router.on("credits.low")(lambda event: None)
        assert SECRET not in repr(router)
        assert "credits.low" in repr(router)


class TestHandleSync:
    def test_sync_callbacks_run_in_the_calling_thread(
        self, router: WebhookRouter, attached_body: bytes
    ) -> None:
        """handle_sync runs the callbacks before returning, in the caller's thread."""
        threads: list[int] = []
        router.on("dicom.report.attached")(lambda event: threads.append(threading.get_ident()))
        assert ACCEPTED == router.handle_sync(headers_for(attached_body), attached_body)
        assert [threading.get_ident()] == threads

    def test_bad_signature_is_400(self, router: WebhookRouter, attached_body: bytes) -> None:
        """handle_sync refuses a bad signature like handle does."""
        assert BAD_SIGNATURE == router.handle_sync({SIGNATURE_HEADER: "0" * 64}, attached_body)

    def test_async_callback_is_a_type_error(
        self, router: WebhookRouter, attached_body: bytes
    ) -> None:
        """A router holding an async callback cannot serve handle_sync: said loudly."""

        @router.on("credits.low")
        async def on_low(event: WebhookEvent) -> None:
            pass

        with pytest.raises(TypeError, match="handle_sync cannot run async callbacks"):
            router.handle_sync(headers_for(attached_body), attached_body)

    def test_callback_returning_a_coroutine_is_logged_and_closed(
        self,
        router: WebhookRouter,
        log: pytest.LogCaptureFixture,
        attached_body: bytes,
    ) -> None:
        """A sync-looking callback returning a coroutine is closed (no 'never awaited')."""

        async def later(event: WebhookEvent) -> None:
            pass

        router.on_any(lambda event: later(event))
        assert ACCEPTED == router.handle_sync(headers_for(attached_body), attached_body)
        assert 1 == len(callback_errors(log))

    def test_failing_callback_still_answers_200(
        self,
        router: WebhookRouter,
        log: pytest.LogCaptureFixture,
        attached_body: bytes,
    ) -> None:
        """A sync callback's exception is logged; the answer is still 200."""

        def broken(event: WebhookEvent) -> None:
            raise KeyError("missing")

        router.on_any(broken)
        assert ACCEPTED == router.handle_sync(headers_for(attached_body), attached_body)
        assert 1 == len(callback_errors(log))

    def test_flask_receiver(self, attached_body: bytes) -> None:
        """The README's Flask receiver works as written (Flask's test client, no network)."""
        flask = pytest.importorskip("flask")
        router = WebhookRouter(SECRET)
        received: list[WebhookEvent] = []
        router.on("dicom.report.attached")(received.append)

        app = flask.Flask(__name__)

        @app.post("/webhooks/bigmind")  # type: ignore[untyped-decorator]  # flask is Any here
        def bigmind_webhook() -> Any:
            status, body = router.handle_sync(flask.request.headers, flask.request.get_data())
            return body, status, {"Content-Type": "application/json"}

        client = app.test_client()
        good = client.post(
            "/webhooks/bigmind", data=attached_body, headers=headers_for(attached_body)
        )
        bad = client.post(
            "/webhooks/bigmind", data=attached_body, headers={SIGNATURE_HEADER: "0" * 64}
        )
        expected = (200, 400, 1)
        assert expected == (good.status_code, bad.status_code, len(received))


class TestAiohttpHandler:
    async def test_background_answers_before_the_callback_finishes(
        self, router: WebhookRouter, attached_body: bytes
    ) -> None:
        """By default the 200 goes out while a slow callback is still running."""
        release = asyncio.Event()
        finished: list[str] = []

        @router.on("dicom.report.attached")
        async def slow(event: WebhookEvent) -> None:
            await release.wait()
            finished.append(event.event)

        async with (
            Receiver(router.aiohttp_handler()) as receiver,
            aiohttp.ClientSession() as session,
            session.post(
                receiver.url, data=attached_body, headers=headers_for(attached_body)
            ) as response,
        ):
            assert 200 == response.status
            assert {"received": True} == await response.json()
        assert (router.pending, finished) == (1, [])
        release.set()
        await asyncio.wait_for(router.drain(), timeout=5)
        assert (router.pending, finished) == (0, ["dicom.report.attached"])

    async def test_inline_mode_answers_after_the_callbacks(
        self, router: WebhookRouter, attached_body: bytes
    ) -> None:
        """With background=False the callbacks have run when the answer arrives."""
        finished: list[str] = []

        @router.on("dicom.report.attached")
        async def slow(event: WebhookEvent) -> None:
            await asyncio.sleep(0.05)
            finished.append(event.event)

        async with (
            Receiver(router.aiohttp_handler(background=False)) as receiver,
            aiohttp.ClientSession() as session,
            session.post(
                receiver.url, data=attached_body, headers=headers_for(attached_body)
            ) as response,
        ):
            expected = (200, ["dicom.report.attached"])
            assert expected == (response.status, finished)

    async def test_bad_signature_is_400(self, router: WebhookRouter, attached_body: bytes) -> None:
        """Over HTTP, a bad signature gets 400 with a JSON body."""
        headers = {SIGNATURE_HEADER: "0" * 64}
        async with (
            Receiver(router.aiohttp_handler()) as receiver,
            aiohttp.ClientSession() as session,
            session.post(receiver.url, data=attached_body, headers=headers) as response,
        ):
            expected = (400, {"received": False, "error": "WEBHOOK_SIGNATURE_INVALID"})
            assert expected == (response.status, await response.json())
        assert 0 == router.pending

    async def test_failing_background_callback_is_logged_not_a_5xx(
        self,
        router: WebhookRouter,
        log: pytest.LogCaptureFixture,
        detached_body: bytes,
    ) -> None:
        """A background callback's exception is logged; the sender saw 200."""

        @router.on("dicom.report.detached")
        async def broken(event: WebhookEvent) -> None:
            raise RuntimeError("boom")

        async with (
            Receiver(router.aiohttp_handler()) as receiver,
            aiohttp.ClientSession() as session,
            session.post(
                receiver.url, data=detached_body, headers=headers_for(detached_body)
            ) as response,
        ):
            assert 200 == response.status
        await asyncio.wait_for(router.drain(), timeout=5)
        assert 1 == len(callback_errors(log))

    async def test_drain_on_shutdown(self, router: WebhookRouter, detached_body: bytes) -> None:
        """The README's ``app.on_shutdown`` hook lets background callbacks finish."""
        finished: list[str] = []

        @router.on("dicom.report.detached")
        async def slow(event: WebhookEvent) -> None:
            await asyncio.sleep(0.05)
            finished.append(DETACHED["reportId"])

        receiver = Receiver(router.aiohttp_handler())
        receiver.app.on_shutdown.append(lambda _app: router.drain())
        async with receiver, aiohttp.ClientSession() as session:
            headers = headers_for(detached_body)
            async with session.post(receiver.url, data=detached_body, headers=headers) as response:
                assert 200 == response.status
        assert [DETACHED["reportId"]] == finished
