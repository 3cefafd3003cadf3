"""The fake Twilio against twilio's own client, its own signatures and its OpenAPI spec."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
import socket
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.fakes.twilio import FakeTwilio, make_inbound_fields, post_inbound

ROOT = Path(__file__).resolve().parents[1]
# Twilio's official spec (twilio-oai, Apache-2.0: tests/data/twilio-oai-LICENSE), vendored.
SPEC_PATH = ROOT / "tests" / "data" / "twilio_api_v2010.yaml"

SID, TOKEN = "AC" + "a1" * 16, "fake-token-0123456789abcdef"
FROM, TO, SERVICE = "+15005550006", "+254700000002", "MG" + "b2" * 16
MESSAGE_SID = re.compile(r"^SM[0-9a-f]{32}$")
PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"
# twilio-python's AsyncTwilioHttpClient still uses aiohttp's deprecated BasicAuth; not ours to fix
pytestmark = pytest.mark.filterwarnings(
    "ignore:BasicAuth is deprecated:DeprecationWarning",
    "ignore:The 'auth' parameter is deprecated:DeprecationWarning",
)


# the contract check, reusable: from tests.test_fake_twilio import contract_errors, load_spec --
def load_spec(path: Path = SPEC_PATH):
    """The parsed spec (a few seconds for 1.5 MB of YAML: load once per module)."""
    from openapi_core import OpenAPI

    return OpenAPI.from_file_path(str(path))


def contract_errors(
    spec,
    method: str,
    path: str,
    form_pairs: Iterable[tuple[str, str]],
    status: int,
    response_json: Mapping | None,
    *,
    headers: Mapping[str, str] | None = None,
) -> list[str]:
    """Everything in one form-encoded call and its answer that Twilio's OpenAPI spec disallows.

    Stricter than openapi-core alone: fields the operation does not define, and 2xx bodies whose
    keys differ from the schema's, count too. twilio-oai documents no error responses, so error
    bodies are held to Twilio's documented JSON error shape instead.
    """
    from openapi_core.testing import MockRequest, MockResponse

    form_pairs = list(form_pairs)
    request = MockRequest(
        "https://api.twilio.com",
        method.lower(),
        path,
        data=urlencode(form_pairs).encode(),
        headers=dict(headers or {"Authorization": "Basic dTpw"}),
        content_type="application/x-www-form-urlencoded",
    )
    errors = [_explain(e) for e in spec.iter_request_errors(request)]
    operation = _operation(spec, method, path)
    if operation is None:
        return errors or [f"{method} {path} is not in the spec"]
    fields = set(
        (
            operation
            / "requestBody"
            / "content"
            / "application/x-www-form-urlencoded"
            / "schema"
            / "properties"
        ).keys()
    )
    errors += [
        f"request field {key!r} is not in the spec" for key, _ in form_pairs if key not in fields
    ]
    if response_json is None:
        return errors
    if str(status) not in operation / "responses":
        return errors + _twilio_error_shape(status, response_json)
    response = MockResponse(json.dumps(response_json).encode(), status_code=status)
    errors += [_explain(e) for e in spec.iter_response_errors(request, response)]
    schema = set(
        (
            operation
            / "responses"
            / str(status)
            / "content"
            / "application/json"
            / "schema"
            / "properties"
        ).keys()
    )
    errors += [f"response lacks {key!r}" for key in sorted(schema - set(response_json))]
    errors += [
        f"response has {key!r}, not in the spec" for key in sorted(set(response_json) - schema)
    ]
    return errors


def _operation(spec, method: str, path: str):
    for template in (spec.spec / "paths").keys():  # noqa: SIM118  iterating gives SchemaPaths
        pattern = "".join(
            "[^/]+" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", template)
        )
        if re.fullmatch(pattern, path) and method.lower() in spec.spec / "paths" / template:
            return spec.spec / "paths" / template / method.lower()
    return None


def _explain(exc: Exception) -> str:
    reasons = getattr(exc.__cause__, "schema_errors", None) or ()
    return f"{type(exc).__name__}: {exc}" if not reasons else "; ".join(e.message for e in reasons)


def _twilio_error_shape(status: int, body: Mapping) -> list[str]:
    if status < 400:
        return [f"status {status} is not in the spec"]
    if set(body) != {"code", "message", "more_info", "status"} or body["status"] != status:
        return [f"not a Twilio error body for HTTP {status}: {body}"]
    if body["more_info"] != f"https://www.twilio.com/docs/errors/{body['code']}":
        return [f"more_info does not name the code: {body}"]
    return []


# fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spec():
    """Twilio's spec, loaded once; without it every test here fails (it is in the repository)."""
    if not SPEC_PATH.is_file():
        pytest.fail(f"Twilio's OpenAPI spec is missing: {SPEC_PATH} (twilio_api_v2010.yaml)")
    return load_spec()


@pytest.fixture
async def fake(spec):
    """A fake on loopback; afterwards every call it answered is held to the spec."""
    async with FakeTwilio(SID, TOKEN) as fake:
        yield fake
    assert [(a["form"], e) for a in fake.attempts for e in spec_errors(spec, a)] == []


def spec_errors(spec, attempt: dict) -> list[str]:
    """Accepted calls must fit the spec in full; refused ones need only a Twilio error body."""
    errors = contract_errors(
        spec,
        "POST",
        attempt["path"],
        attempt["form"],
        attempt["status"],
        attempt["response"],
        headers={"Authorization": "Basic eDp5"},
    )
    return (
        errors
        if attempt["status"] == 201
        else _twilio_error_shape(attempt["status"], attempt["response"])
    )


@pytest.fixture
async def session():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


class Receiver:
    """A local webhook endpoint that records every signed form it gets."""

    def __init__(self) -> None:
        self.got: list[tuple[str, Mapping[str, object], str, dict[str, str]]] = []
        self.answer = 200
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.got.append(
            (
                str(request.url),
                form,
                request.headers.get("X-Twilio-Signature", ""),
                dict(request.headers),
            )
        )
        return web.Response(status=self.answer, text="<Response/>", content_type="text/xml")

    async def wait_for(self, count: int) -> list:
        for _ in range(200):  # bounded: 10 s at most
            if len(self.got) >= count:
                return self.got
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(self.got)} of {count} callbacks arrived")


@pytest.fixture
async def receiver():
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/{name}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield receiver
    await runner.cleanup()


@pytest.fixture
async def client(fake):
    """twilio's real client (async transport) aimed at the fake (CHANNELS.md B6, way 2)."""
    async with AsyncTwilioHttpClient() as http:
        client = Client(SID, TOKEN, http_client=http, environment={})
        client.api.base_url = fake.url
        yield client


async def create(client: Client, **kwargs):
    async with asyncio.timeout(5):  # AsyncTwilioHttpClient has no timeout of its own (B5)
        return await client.messages.create_async(**kwargs)


async def raw_create(
    session, base_url, fields, auth=(SID, TOKEN), account=SID
) -> tuple[int, dict]:
    async with session.post(
        f"{base_url}/2010-04-01/Accounts/{account}/Messages.json",
        data=fields,
        headers={"Authorization": basic(*auth)},
    ) as resp:
        return resp.status, await resp.json()


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# twilio's client talks to the fake ---------------------------------------------------------
async def test_twilios_sync_client_sends_a_message(fake):
    client = Client(SID, TOKEN, environment={})
    client.api.base_url = fake.url
    message = await asyncio.to_thread(
        client.messages.create, to=TO, from_=FROM, body="50 kg apples at 3/kg"
    )
    assert MESSAGE_SID.match(message.sid) and message.status == "queued"
    assert (message.to, message.from_, message.num_segments, message.direction) == (
        TO,
        FROM,
        "1",
        "outbound-api",
    )
    assert (
        message.date_created.year >= 2024 and message.error_code is None and message.price is None
    )
    assert message.uri == f"{PATH[:-5]}/{message.sid}.json"
    assert fake.messages == [
        {
            "To": TO,
            "From": FROM,
            "Body": "50 kg apples at 3/kg",
            "sid": message.sid,
            "status": "queued",
        }
    ]


async def test_twilios_async_client_through_a_messaging_service(fake, client):
    message = await create(
        client, to=f"whatsapp:{TO}", messaging_service_sid=SERVICE, body="苹果 50 公斤"
    )
    assert (message.status, message.from_, message.num_segments) == ("accepted", None, "0")
    assert message.messaging_service_sid == SERVICE and message.to == f"whatsapp:{TO}"
    [attempt] = fake.attempts
    assert attempt["headers"]["Authorization"] == basic(SID, TOKEN)


async def test_media_urls_are_kept_as_a_list(fake, client):
    urls = ["https://example.com/a.jpg", "https://example.com/b.jpg"]
    message = await create(client, to=TO, from_=FROM, media_url=urls)
    assert message.sid.startswith("MM") and message.num_media == "2"
    assert fake.messages[0]["MediaUrl"] == urls
    assert [v for k, v in fake.attempts[0]["form"] if k == "MediaUrl"] == urls


@pytest.mark.parametrize(
    "code, status", [(21610, 400), (20429, 429), (63016, 400), (21614, 400), (30001, 400)]
)
async def test_injected_failures_surface_as_twilio_rest_exceptions(fake, client, code, status):
    fake.fail_next(code)
    with pytest.raises(TwilioRestException) as caught:
        await create(client, to=TO, from_=FROM, body="hi")
    assert (caught.value.code, caught.value.status) == (code, status)
    assert len(fake.attempts) == 1 and fake.messages == []
    assert (
        await create(client, to=TO, from_=FROM, body="hi")
    ).status == "queued"  # only the next one


async def test_fail_next_times_and_fail_to_a_recipient(fake, client):
    fake.fail_next(20429, times=2)
    fake.fail_to(f"whatsapp:{FROM}", 21610)
    for _ in range(2):
        with pytest.raises(TwilioRestException, match="Too Many Requests"):
            await create(client, to=TO, from_=FROM, body="hi")
    await create(client, to=TO, from_=FROM, body="hi")
    for to in (FROM, f"whatsapp:{FROM}", FROM):  # permanent, with or without the channel prefix
        with pytest.raises(TwilioRestException) as caught:
            await create(client, to=to, from_=TO, body="hi")
        assert caught.value.code == 21610
    assert len(fake.attempts) == 6 and [m["To"] for m in fake.messages] == [TO]


# validation like Twilio's ------------------------------------------------------------------
@pytest.mark.parametrize(
    "fields, code",
    [
        ({"From": FROM, "Body": "hi"}, 21604),
        ({"To": TO, "Body": "hi"}, 21603),
        ({"To": TO, "From": FROM}, 21619),
        ({"To": TO, "From": FROM, "Body": "x" * 1601}, 21617),
        ({"To": "0700 000 002", "From": FROM, "Body": "hi"}, 21211),
        ({"To": "whatsapp:254700000002", "From": FROM, "Body": "hi"}, 21211),
    ],
)
async def test_invalid_creates_get_twilios_error_codes(fake, session, fields, code):
    status, body = await raw_create(session, fake.url, fields)
    assert (status, body) == (
        400,
        {
            "code": code,
            "message": body["message"],
            "status": 400,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
        },
    )
    assert fake.messages == [] and fake.attempts[0]["form"] == list(fields.items())


@pytest.mark.parametrize(
    "fields",
    [
        {"To": TO, "From": FROM, "Body": "x" * 1600},
        {"To": TO, "MessagingServiceSid": SERVICE, "ContentSid": "HX" + "c" * 32},
        {"To": TO, "From": FROM, "MediaUrl": "https://example.com/a.jpg"},
    ],
)
async def test_any_one_of_the_alternatives_is_enough(fake, session, fields):
    status, body = await raw_create(session, fake.url, fields)
    assert status == 201 and body["status"] in ("queued", "accepted")


async def test_bad_credentials_401_and_an_unknown_account_404(fake, session):
    status, body = await raw_create(
        session, fake.url, {"To": TO, "From": FROM, "Body": "hi"}, auth=(SID, "wrong")
    )
    assert (status, body["code"], body["message"]) == (401, 20003, "Authenticate")
    other = "AC" + "c3" * 16
    status, body = await raw_create(
        session, fake.url, {"To": TO, "From": FROM, "Body": "hi"}, account=other
    )
    assert (status, body["code"]) == (404, 20404)
    async with session.post(fake.url + PATH, data={"To": TO}) as resp:  # no Authorization at all
        assert resp.status == 401 and "Basic" in resp.headers["WWW-Authenticate"]
    assert fake.messages == [] and len(fake.attempts) == 3


# status callbacks --------------------------------------------------------------------------
def assert_signed(got) -> None:
    for url, form, signature, _ in got:
        assert RequestValidator(TOKEN).validate(url, form, signature), (url, dict(form))
        assert not RequestValidator("another-token").validate(url, form, signature)


async def test_status_callbacks_are_sent_delivered_and_signed(fake, client, receiver):
    callback = receiver.url + "/hooks/status?shop=7"
    message = await create(client, to=TO, from_=FROM, body="hi", status_callback=callback)
    got = await receiver.wait_for(2)
    assert [form["MessageStatus"] for _, form, _, _ in got] == [
        "sent",
        "delivered",
    ]  # never "queued"
    assert_signed(got)
    _, form, _, headers = got[0]
    assert dict(form) == {
        "AccountSid": SID,
        "ApiVersion": "2010-04-01",
        "MessageSid": message.sid,
        "MessageStatus": "sent",
        "SmsSid": message.sid,
        "SmsStatus": "sent",
        "To": TO,
        "From": FROM,
    }
    assert headers["I-Twilio-Idempotency-Token"]
    assert [(c["MessageStatus"], c["url"], c["http_status"]) for c in fake.callbacks_sent] == [
        ("sent", callback, 200),
        ("delivered", callback, 200),
    ]
    assert fake.messages[0]["status"] == "delivered"


@pytest.mark.parametrize(
    "status, code, expected",
    [("undelivered", 30003, ["sent", "undelivered"]), ("failed", 30008, ["failed"])],
)
async def test_a_recipient_can_end_undelivered_or_failed(
    fake, client, receiver, status, code, expected
):
    fake.fail_delivery_to(f"whatsapp:{TO}", code, status=status)
    await create(
        client,
        to=f"whatsapp:{TO}",
        from_=f"whatsapp:{FROM}",
        body="hi",
        status_callback=receiver.url + "/hooks/status",
    )
    got = await receiver.wait_for(len(expected))
    assert [form["MessageStatus"] for _, form, _, _ in got] == expected
    assert [form.get("ErrorCode") for _, form, _, _ in got] == [None] * (len(expected) - 1) + [
        str(code)
    ]
    assert_signed(got)


async def test_callbacks_by_hand_out_of_order_and_twice(fake, client, receiver):
    fake.callback_delay = 30  # hold the automatic ones back (stop() cancels them)
    message = await create(
        client, to=TO, from_=FROM, body="hi", status_callback=receiver.url + "/hooks/s"
    )
    for status, code in (("undelivered", 30005), ("sent", None), ("undelivered", 30005)):
        assert await fake.send_status(message.sid, status, error_code=code) == 200
    got = await receiver.wait_for(3)
    assert [(f["MessageStatus"], f.get("ErrorCode")) for _, f, _, _ in got] == [
        ("undelivered", "30005"),
        ("sent", None),
        ("undelivered", "30005"),
    ]
    tokens = [h["I-Twilio-Idempotency-Token"] for _, _, _, h in got]
    assert tokens[0] == tokens[2] != tokens[1]  # a resend looks like Twilio's retry
    assert_signed(got)


async def test_a_callback_that_fails_is_recorded_not_raised(fake, client, receiver):
    receiver.answer = 500
    message = await create(client, to=TO, from_=FROM, body="hi")
    assert await fake.send_status(message.sid, "sent", url=receiver.url + "/hooks/s") == 500
    assert (
        await fake.send_status(message.sid, "sent", url=f"http://127.0.0.1:{free_port()}/gone")
        is None
    )
    assert [c["http_status"] for c in fake.callbacks_sent] == [500, None]
    assert "error" in fake.callbacks_sent[1]


# a hang, as a client-side timeout -----------------------------------------------------------
async def test_hang_next_makes_the_client_time_out_once(fake, client):
    fake.hang_next(0.8)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await client.messages.create_async(to=TO, from_=FROM, body="hi")
    assert len(fake.attempts) == 1 and fake.messages == []
    started = time.monotonic()
    assert (await create(client, to=TO, from_=FROM, body="again")).status == "queued"
    assert time.monotonic() - started < 0.5  # the hang was for one request only
    for _ in range(40):  # bounded: Twilio still processes a request the client gave up on
        if len(fake.messages) == 2:
            break
        await asyncio.sleep(0.05)
    assert [m["Body"] for m in fake.messages] == ["again", "hi"]


async def test_stop_ends_a_hang_at_once(session):
    fake = FakeTwilio(SID, TOKEN)
    await fake.start()
    fake.hang_next(60)
    pending = asyncio.create_task(
        raw_create(session, fake.url, {"To": TO, "From": FROM, "Body": "hi"})
    )
    for _ in range(100):
        if fake.attempts:
            break
        await asyncio.sleep(0.02)
    started = time.monotonic()
    await fake.stop()
    assert time.monotonic() - started < 3
    await asyncio.gather(pending, return_exceptions=True)


# inbound webhooks --------------------------------------------------------------------------
KNOWN = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
KNOWN_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"


def test_twilios_known_answer_signature():
    assert (
        RequestValidator("12345").compute_signature(KNOWN_URL, KNOWN)
        == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )


async def test_post_inbound_signs_exactly_as_twilio(session, receiver):
    known = {**KNOWN, "MessageSid": "SM" + "0" * 32}
    twilio_says = RequestValidator("12345").compute_signature(KNOWN_URL, known)
    status, text = await post_inbound(
        session, receiver.url + "/hooks/in", "12345", known, signed_url=KNOWN_URL
    )
    assert (status, text) == (200, "<Response/>")
    assert receiver.got[0][2] == twilio_says


async def test_inbound_sms_is_signed_over_the_public_url(session, receiver):
    public = "https://farm.example.com/hooks/twilio?v=2"
    fields = make_inbound_fields(TO, FROM, "sell 50kg apples", account_sid=SID)
    await post_inbound(
        session, receiver.url + "/hooks/twilio?v=2", TOKEN, fields, signed_url=public
    )
    [(url, form, signature, headers)] = receiver.got
    assert RequestValidator(TOKEN).validate(public, form, signature)
    assert not RequestValidator(TOKEN).validate(
        url, form, signature
    )  # the internal URL is not signed
    assert form["MessageSid"] == form["SmsSid"] == form["SmsMessageSid"]
    assert headers["I-Twilio-Idempotency-Token"] == f"{SID}-{form['MessageSid']}"
    assert (form["SmsStatus"], form["NumMedia"], form["NumSegments"]) == ("received", "0", "1")
    assert (form["FromCountry"], form["ToCountry"]) == ("KE", "US")
    assert (form["AccountSid"], form["ApiVersion"], form["Body"]) == (
        SID,
        "2010-04-01",
        "sell 50kg apples",
    )


async def test_every_field_given_is_sent_and_signed(session, receiver):
    fields = make_inbound_fields(
        TO,
        FROM,
        "hi",
        "SM" + "1" * 32,
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/m.jpg",
        OptOutType="STOP",
    )
    await post_inbound(session, receiver.url + "/hooks/x", TOKEN, fields)
    [(url, form, signature, _)] = receiver.got
    assert dict(form) == fields and RequestValidator(TOKEN).validate(url, form, signature)


def test_whatsapp_inbound_fields():
    fields = make_inbound_fields(TO, FROM, "苹果多少钱", whatsapp=True, profile_name="Wanjiru")
    assert (fields["From"], fields["To"]) == (f"whatsapp:{TO}", f"whatsapp:{FROM}")
    assert (fields["WaId"], fields["ProfileName"]) == ("254700000002", "Wanjiru")
    assert "WaId" not in make_inbound_fields(TO, FROM, "hi")
    assert MESSAGE_SID.match(fields["MessageSid"])


# the contract, against the official spec -------------------------------------------------------
async def test_what_the_client_sends_and_the_fake_answers_fit_the_spec(
    spec, fake, client, receiver
):
    await create(
        client,
        to=TO,
        from_=FROM,
        body="hi",
        status_callback=receiver.url + "/hooks/s",
        validity_period=600,
        smart_encoded=True,
        shorten_urls=False,
        max_price=0.05,
        attempt=1,
        provide_feedback=True,
    )
    await create(
        client,
        to=f"whatsapp:{TO}",
        messaging_service_sid=SERVICE,
        content_sid="HX" + "d" * 32,
        content_variables=json.dumps({"1": "apples"}),
        schedule_type="fixed",
        send_at="2031-01-02T03:04:05Z",
        risk_check="disable",
    )
    await create(
        client,
        to=TO,
        from_=FROM,
        media_url=["https://example.com/a.jpg", "https://example.com/b.jpg"],
    )
    assert [a["status"] for a in fake.attempts] == [201, 201, 201]
    for attempt in fake.attempts:
        assert (
            contract_errors(
                spec,
                "POST",
                attempt["path"],
                attempt["form"],
                attempt["status"],
                attempt["response"],
                headers=attempt["headers"],
            )
            == []
        )


def test_the_contract_check_catches_what_breaks_it(spec):
    good: dict[str, object] = {
        "account_sid": SID,
        "api_version": "2010-04-01",
        "body": "hi",
        "date_created": None,
        "date_sent": None,
        "date_updated": None,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": FROM,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": "SM" + "e" * 32,
        "status": "queued",
        "subresource_uris": {},
        "to": TO,
        "uri": "/x.json",
    }
    pairs = [("To", TO), ("From", FROM), ("Body", "hi")]
    assert contract_errors(spec, "POST", PATH, pairs, 201, good) == []
    assert contract_errors(spec, "POST", PATH, [*pairs, ("ValidityPeriod", "soon")], 201, good)
    assert contract_errors(
        spec, "POST", PATH, [*pairs, ("Statuscallback", "http://x")], 201, good
    ) == ["request field 'Statuscallback' is not in the spec"]
    assert contract_errors(spec, "POST", PATH, pairs[1:], 201, good)  # no To
    assert contract_errors(spec, "POST", PATH, pairs, 201, {**good, "status": "sending!"})
    assert contract_errors(spec, "POST", PATH, pairs, 201, {**good, "num_segments": 1})
    assert contract_errors(spec, "POST", PATH, pairs, 201, {**good, "extra": 1}) == [
        "response has 'extra', not in the spec"
    ]
    assert contract_errors(
        spec, "POST", PATH, pairs, 201, {k: v for k, v in good.items() if k != "uri"}
    ) == ["response lacks 'uri'"]
    assert (
        contract_errors(
            spec,
            "POST",
            PATH,
            pairs,
            429,
            {
                "code": 20429,
                "message": "Too Many Requests",
                "more_info": "https://www.twilio.com/docs/errors/20429",
                "status": 429,
            },
        )
        == []
    )
    assert contract_errors(spec, "POST", PATH, pairs, 400, {"error": "bad"})


# the demo command ---------------------------------------------------------------------------
def _ctrl_c_on() -> None:
    """A test run started in a shell's background ignores SIGINT, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def test_the_command_serves_and_prints_each_message(session):
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.fakes.twilio",
        "--port",
        str(port),
        "--account-sid",
        SID,
        "--auth-token",
        TOKEN,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_ctrl_c_on,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        banner = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert f"http://127.0.0.1:{port}".encode() in banner
        status, _ = await raw_create(
            session, f"http://127.0.0.1:{port}", {"To": TO, "From": FROM, "Body": "demo"}
        )
        assert status == 201
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        assert f"{FROM} → {TO}: demo" in line.decode()
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:  # bounded, with room for a loaded CI machine; stderr says why if it fails
            code = await asyncio.wait_for(proc.wait(), 30)
            assert code == 0, (await proc.stderr.read()).decode()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
