"""ElevenLabsClient against the emulator over loopback HTTP, and against odd answers from a mock."""

from __future__ import annotations

import json
import ssl
import time

import httpx
import pytest

from emulators import openapi_check
from emulators.elevenlabs import ERROR_CODES_429, CloneLatency, Emulator, Fault
from warmline.adapters.elevenlabs import AgentLine, ElevenLabsAgentCalls, ElevenLabsClient, tls_context
from warmline.voice_provider import (
    AgentCall,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    Unauthorized,
    VoiceLimitReached,
    VoiceSample,
)

API_KEY = "sk_test_secret_key_0123456789"
SAMPLES = [
    VoiceSample("first.mp3", b"ID3" + b"\x00" * 100),
    VoiceSample("second.wav", b"RIFF" + b"\x01" * 50, "audio/wav"),
]


@pytest.fixture(scope="module")
def emulator():
    with Emulator(API_KEY, clone_latency=CloneLatency.instant(), voice_limit=5, seed=7) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_emulator(emulator):
    emulator.reset()
    emulator.configure(voice_limit=5)


@pytest.fixture
def client(emulator):
    with ElevenLabsClient(API_KEY, emulator.base_url + "/", timeout_seconds=5) as client:
        yield client


def add_voice(client: ElevenLabsClient, timeout_seconds: float = 5, **overrides):
    arguments = {
        "name": "caller-abc",
        "samples": SAMPLES,
        "description": "clone",
        "labels": {"caller": "abc"},
    }
    return client.add_voice(**(arguments | overrides), timeout_seconds=timeout_seconds)


def mock_client(handler) -> ElevenLabsClient:
    return ElevenLabsClient(API_KEY, "https://api.test", transport=httpx.MockTransport(handler))


def answering(status: int, content: bytes | str, content_type: str = "application/json") -> ElevenLabsClient:
    body = content.encode() if isinstance(content, str) else content
    return mock_client(
        lambda _request: httpx.Response(status, content=body, headers={"content-type": content_type})
    )


# ---- add_voice ------------------------------------------------------------------------------------


def test_add_voice_sends_a_valid_multipart_body_and_returns_the_id(client, emulator):
    added = add_voice(client)

    [record] = emulator.requests("/v1/voices/add")
    problems = openapi_check.validate_request(
        "POST",
        "/v1/voices/add",
        form_fields=record["form"],
        files={"files": [(part["filename"], part["size"]) for part in record["files"]]},
    )
    assert problems == []
    assert record["status"] == 200
    assert [voice["voice_id"] for voice in emulator.voices()] == [added.voice_id]
    assert len(added.voice_id) == 20 and added.voice_id.isalnum()
    assert added.requires_verification is False


def test_add_voice_sends_one_files_part_per_sample_with_name_and_type(client, emulator):
    add_voice(client)

    [record] = emulator.requests("/v1/voices/add")
    assert record["files"] == [
        {"field": "files", "filename": "first.mp3", "size": 103, "content_type": "audio/mpeg"},
        {"field": "files", "filename": "second.wav", "size": 54, "content_type": "audio/wav"},
    ]
    assert record["form"]["name"] == ["caller-abc"]
    assert record["form"]["remove_background_noise"] == ["false"]


def test_add_voice_sends_labels_as_a_json_string(client, emulator):
    add_voice(client, labels={"caller": "abc", "language": "en"})

    [record] = emulator.requests("/v1/voices/add")
    assert json.loads(record["form"]["labels"][0]) == {"caller": "abc", "language": "en"}
    assert emulator.voices()[0]["labels"] == {"caller": "abc", "language": "en"}


def test_add_voice_is_never_retried(client, emulator):
    emulator.inject(Fault("/v1/voices/add", kind="status", status=503))

    with pytest.raises(ProviderUnavailable):
        add_voice(client)
    assert len(emulator.requests("/v1/voices/add")) == 1


def test_add_voice_when_slots_are_full_raises_voice_limit_reached(client, emulator):
    emulator.configure(voice_limit=1)
    add_voice(client)

    with pytest.raises(VoiceLimitReached) as raised:
        add_voice(client)
    assert raised.value.status_code == 400
    assert raised.value.code == "voice_limit_reached"
    assert "(1 / 1)" in raised.value.message


def test_add_voice_with_the_answer_lost_is_ambiguous(client, emulator):
    emulator.inject(Fault("/v1/voices/add", kind="after_effect_status", status=500))

    with pytest.raises(ProviderUnavailable) as raised:
        add_voice(client)
    assert raised.value.ambiguous
    assert len(emulator.voices()) == 1


def test_a_hanging_clone_raises_provider_timeout(client, emulator):
    emulator.inject(Fault("/v1/voices/add", kind="hang", seconds=2))

    with pytest.raises(ProviderTimeout) as raised:
        add_voice(client, timeout_seconds=0.3)
    assert raised.value.ambiguous
    assert raised.value.code == "timeout"


def test_a_trickling_answer_is_cut_off_at_the_requests_whole_timeout(emulator):
    """Each read gets a byte in time, so per-read timeouts never fire; the request's own timeout
    still ends it (a Lambda would otherwise be outrun)."""
    emulator.inject(
        Fault(method="GET", path_prefix="/v1/user/subscription", kind="trickle", status=200, seconds=0.02)
    )
    with ElevenLabsClient(API_KEY, emulator.base_url, timeout_seconds=0.4) as slow:
        started = time.monotonic()
        with pytest.raises(ProviderTimeout):
            slow.get_subscription()
    assert time.monotonic() - started < 0.9


def test_a_refused_connection_raises_provider_timeout():
    with (
        ElevenLabsClient(API_KEY, "http://127.0.0.1:9", timeout_seconds=1) as client,
        pytest.raises(ProviderTimeout) as raised,
    ):
        client.list_voices()
    assert raised.value.code == "connection_error"


# ---- other operations -----------------------------------------------------------------------------


def test_delete_voice_removes_it_and_a_second_delete_is_not_an_error(client, emulator):
    added = add_voice(client)

    client.delete_voice(added.voice_id)
    client.delete_voice(added.voice_id)

    assert emulator.voices() == []
    deletes = [record for record in emulator.requests("/v1/voices/") if record["method"] == "DELETE"]
    assert [record["status"] for record in deletes] == [200, 400]  # 400 voice_not_found: gone


@pytest.mark.parametrize(
    ("status", "code"), [(400, "voice_not_found"), (400, "voice_does_not_exist"), (404, "not_found")]
)
def test_every_answer_ElevenLabs_has_given_for_a_gone_voice_means_gone(client, emulator, status, code):
    emulator.inject(Fault(method="DELETE", path_prefix="/v1/voices/", status=status, code=code))

    client.delete_voice("gone_voice_id_000000")  # no exception: the voice counts as deleted

    [delete] = emulator.requests("/v1/voices/gone_voice_id_000000")
    assert delete["method"] == "DELETE"  # the answer came from ElevenLabs, not from a skipped request


def test_delete_voice_raises_on_other_errors(client):
    with pytest.raises(InvalidRequest) as raised:
        client.delete_voice("21m00Tcm4TlvDq8ikWAM")  # premade voices cannot be deleted
    assert raised.value.status_code == 400 and raised.value.code == "voice_not_deletable"


def test_list_voices_returns_the_accounts_own_cloned_voices_only(client):
    added = add_voice(client)

    voices = {voice.voice_id: voice for voice in client.list_voices()}

    assert voices[added.voice_id].category == "cloned"
    assert voices[added.voice_id].labels == {"caller": "abc"}
    assert voices[added.voice_id].created_at_unix is not None
    assert "21m00Tcm4TlvDq8ikWAM" not in voices  # a premade voice is never warmline's to delete


def test_list_voices_filters_v2_to_own_clones_and_follows_every_page(client, emulator):
    emulator.configure(voice_limit=250)
    names = [f"warmline-ck_{index:032x}-job" for index in range(205)]
    for name in names:
        add_voice(client, name=name)
    add_voice(client, name="another product's voice")

    emulator.configure(voice_search="words")  # ElevenLabs' search matching is undocumented
    found = client.list_voices("warmline-")

    assert sorted(voice.name for voice in found) == sorted(names)
    listed = emulator.requests("/v2/voices")
    assert len(listed) == 3  # pages of 100
    assert all("search" not in record["query"] for record in listed)
    assert all(record["query"]["voice_type"] == ["personal"] for record in listed)
    assert all(record["query"]["category"] == ["cloned"] for record in listed)
    assert all(openapi_check.validate_query("GET", "/v2/voices", record["query"]) == [] for record in listed)
    assert not [
        r for r in emulator.requests("/v1/voices") if (r["method"], r["path"]) == ("GET", "/v1/voices")
    ]


def test_list_voices_keeps_only_names_that_match_the_search():
    body = {
        "voices": [
            {"voice_id": "a", "name": "warmline-ck_1-j", "description": "x"},
            {"voice_id": "b", "name": "Rachel", "description": "about warmline-ck_1-j"},
        ],
        "has_more": False,
        "total_count": 2,
        "next_page_token": None,
    }

    voices = answering(200, json.dumps(body)).list_voices("warmline-ck_1-")

    assert [voice.voice_id for voice in voices] == ["a"]


def test_list_voices_tolerates_missing_or_null_labels():
    body = {
        "voices": [{"voice_id": "a", "name": "A", "labels": None}, {"voice_id": "b", "name": "B"}],
        "has_more": False,
        "total_count": 2,
    }

    voices = answering(200, json.dumps(body)).list_voices()

    assert [(voice.voice_id, voice.labels) for voice in voices] == [("a", {}), ("b", {})]


def test_a_page_that_claims_more_without_a_token_is_malformed():
    body = {"voices": [], "has_more": True, "total_count": 9, "next_page_token": None}

    with pytest.raises(ProviderUnavailable):
        answering(200, json.dumps(body)).list_voices()


def test_get_subscription_counts_cloned_voices(client):
    add_voice(client)
    add_voice(client)

    subscription = client.get_subscription()

    assert (subscription.voice_limit, subscription.voice_slots_used, subscription.free_slots) == (5, 2, 3)
    assert (subscription.voice_add_edit_counter, subscription.max_voice_add_edits) == (2, None)


def test_get_subscription_reads_the_add_edit_allowance(client, emulator):
    emulator.configure(max_voice_add_edits=3)
    add_voice(client)

    subscription = client.get_subscription()

    assert (subscription.voice_add_edit_counter, subscription.max_voice_add_edits) == (1, 3)
    assert subscription.add_edits_left == 2


@pytest.mark.parametrize(("telephony", "call_id_prefix"), [("sip_trunk", "sip_"), ("twilio", "CA")])
def test_outbound_call_sends_a_valid_body(client, emulator, telephony, call_id_prefix):
    calls = ElevenLabsAgentCalls(client, AgentLine(telephony, "agent_1", "phnum_1"))
    call = AgentCall("+15550100", "21m00Tcm4TlvDq8ikWAM", "Thanks for waiting.", {"caller_name": "Ann"})

    placed = calls.place_call(call)

    [record] = emulator.requests("/v1/convai/")
    assert openapi_check.validate_request("POST", record["path"], json_body=record["json"]) == []
    assert record["json"]["agent_id"] == "agent_1"
    assert record["json"]["agent_phone_number_id"] == "phnum_1"
    assert record["json"]["to_number"] == "+15550100"
    assert record["json"]["conversation_initiation_client_data"] == {
        "conversation_config_override": {
            "tts": {"voice_id": "21m00Tcm4TlvDq8ikWAM"},
            "agent": {"first_message": "Thanks for waiting."},
        },
        "dynamic_variables": {"caller_name": "Ann"},
    }
    assert placed.conversation_id.startswith("conv_")
    assert placed.call_id.startswith(call_id_prefix)


# ---- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ERROR_CODES_429)
def test_every_429_code_raises_rate_limited(client, emulator, code):
    emulator.inject(Fault("/v2/voices", kind="status", status=429, code=code))

    with pytest.raises(RateLimited) as raised:
        client.list_voices()
    assert (raised.value.status_code, raised.value.code, raised.value.retryable) == (429, code, True)


@pytest.mark.parametrize("body_style", ["status", "code", "list", "text"])
@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, InvalidRequest),
        (401, Unauthorized),
        (403, Unauthorized),
        (404, InvalidRequest),
        (429, RateLimited),
        (500, ProviderUnavailable),
        (503, ProviderUnavailable),
    ],
)
def test_each_error_body_shape_maps_to_its_class(client, emulator, status, error_class, body_style):
    emulator.inject(
        Fault("/v1/user", status=status, code="some_code", message="went wrong", body_style=body_style)
    )

    with pytest.raises(error_class) as raised:
        client.get_subscription()
    error = raised.value
    assert type(error) is error_class
    assert error.status_code == status
    assert error.code
    assert "went wrong" in error.message
    assert error.code == ("some_code" if body_style in ("status", "code", "list") else f"http_{status}")


def test_voice_limit_reached_in_the_newer_code_body_shape(client, emulator):
    emulator.inject(Fault("/v1/voices/add", status=400, code="voice_limit_reached", body_style="code"))

    with pytest.raises(VoiceLimitReached):
        add_voice(client)


def test_code_is_preferred_over_the_legacy_status():
    body = {"detail": {"code": "rate_limit_exceeded", "status": "legacy_status", "message": "slow down"}}

    with pytest.raises(RateLimited) as raised:
        answering(429, json.dumps(body)).list_voices()
    assert raised.value.code == "rate_limit_exceeded"


def test_a_fastapi_validation_list_becomes_invalid_request():
    body = {"detail": [{"loc": ["body", "name"], "msg": "field required", "type": "missing"}]}

    with pytest.raises(InvalidRequest) as raised:
        answering(422, json.dumps(body)).list_voices()
    assert raised.value.code == "missing"
    assert "body.name: field required" in raised.value.message


def test_the_emulators_own_validation_error_becomes_invalid_request(client):
    with pytest.raises(InvalidRequest) as raised:
        add_voice(client, samples=[])
    assert raised.value.status_code == 422
    assert "files" in raised.value.message


def test_a_wrong_api_key_raises_unauthorized_without_leaking_the_key(emulator):
    with ElevenLabsClient("sk_wrong_key", emulator.base_url) as client, pytest.raises(Unauthorized) as raised:
        client.list_voices()
    assert raised.value.code == "invalid_api_key"


@pytest.mark.parametrize(
    ("status", "content", "content_type", "error_class"),
    [
        (502, "<html>Bad gateway</html>", "text/html", ProviderUnavailable),
        (401, "", "text/plain", Unauthorized),
        (400, "null", "application/json", InvalidRequest),
        (400, '{"detail": "plain string detail"}', "application/json", InvalidRequest),
    ],
)
def test_odd_error_bodies_still_give_the_typed_error(status, content, content_type, error_class):
    with pytest.raises(error_class) as raised:
        answering(status, content, content_type).get_subscription()
    assert raised.value.status_code == status
    assert raised.value.code and raised.value.message


DEEP = '{"detail": [' + "[" * 100_000 + "]" * 100_000 + "]}"


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (422, '{"detail": [{"loc": 5, "msg": "x"}]}'),  # loc not a list
        (422, '{"detail": [{"loc": null, "msg": {"a": 1}}, 7, null]}'),
        (400, '{"detail": {"code": ["voice_limit_reached"], "message": 3}}'),
        (400, '{"detail": [[{"type": "a"}]]}'),
        (500, DEEP),  # deeper than the JSON parser recurses
        (503, '{"detail": [' + "[" * 3000 + "]" * 3000 + "]}"),
        (400, '{"detail": {"status": {"nested": [1, 2]}}}'),
        (429, '{"detail": [{"loc": ["body", {"k": "v"}], "type": 12}]}'),
    ],
)
def test_malformed_error_bodies_still_give_a_provider_error(status, content):
    with pytest.raises(ProviderError) as raised:
        answering(status, content).get_subscription()
    assert raised.value.status_code == status
    assert raised.value.code and raised.value.message and len(raised.value.message) < 1000


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", "{}", '{"voice_id": 42, "requires_verification": false}'],
)
def test_a_malformed_success_body_raises_provider_unavailable(content):
    with pytest.raises(ProviderUnavailable) as raised:
        add_voice(answering(200, content))
    assert raised.value.code == "malformed_response"


def test_a_malformed_subscription_raises_provider_unavailable():
    with pytest.raises(ProviderUnavailable):
        answering(200, '{"voice_limit": "thirty", "voice_slots_used": 1}').get_subscription()


def test_the_api_key_never_appears_in_errors_or_repr(emulator):
    seen_messages = []
    for status in (400, 401, 429, 500):
        echoing = mock_client(
            lambda request, status=status: httpx.Response(
                status,
                json={"detail": {"status": "x", "message": "bad"}, "echo": request.headers["xi-api-key"]},
            )
        )
        with pytest.raises(ProviderError) as raised:
            echoing.list_voices()
        seen_messages += [str(raised.value), repr(raised.value), raised.value.message]
    with ElevenLabsClient(API_KEY, "http://127.0.0.1:9") as client:
        seen_messages.append(repr(client))
        with pytest.raises(ProviderError) as raised:
            client.list_voices()
        seen_messages += [str(raised.value), repr(raised.value), repr(raised.value.__cause__)]

    assert all(API_KEY not in message for message in seen_messages)


def test_the_api_key_header_and_timeouts_are_sent():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["key"] = request.headers["xi-api-key"]
        seen["timeout"] = request.extensions["timeout"]
        return httpx.Response(200, json={"voice_id": "v", "requires_verification": False})

    add_voice(mock_client(handler), timeout_seconds=42)

    assert seen["key"] == API_KEY
    assert seen["timeout"]["read"] == 42
    assert seen["timeout"]["connect"] == 3


def test_the_clients_share_one_tls_context_that_verifies_certificates():
    context = tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # a CA bundle is loaded
    assert tls_context() is context  # built once per process, not once per client
