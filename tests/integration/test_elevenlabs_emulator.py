"""The ElevenLabs emulator over HTTP: auth, validation, slots, faults, recording and control."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from emulators import openapi_check
from emulators.elevenlabs import CloneLatency, Emulator, Fault
from tests import web
from tests.waiting import eventually

API_KEY = "emulator-test-key"
HEADERS = {"xi-api-key": API_KEY}
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def emulator():
    with Emulator(API_KEY, clone_latency=CloneLatency.instant(), voice_limit=3, seed=1) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_emulator(emulator):
    emulator.reset()
    emulator.configure(clone_latency=CloneLatency.instant(), voice_limit=3)


@pytest.fixture
def http(emulator):
    with web.client(base_url=emulator.base_url, timeout=10) as client:
        yield client


def clone(
    http: httpx.Client, name: str = "voice", headers: dict[str, str] = HEADERS, **form
) -> httpx.Response:
    data = {"name": name, "labels": json.dumps({"caller": name}), "remove_background_noise": "false"} | form
    files = [("files", ("sample.mp3", b"ID3 audio", "audio/mpeg"))]
    return http.post("/v1/voices/add", data=data, files=files, headers=headers)


def assert_documented(response: httpx.Response, method: str, path: str) -> None:
    assert openapi_check.validate_response(method, path, response.status_code, response.json()) == []


# ---- auth and validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"xi-api-key": "wrong"}])
def test_a_missing_or_wrong_key_answers_401(http, headers):
    response = http.get("/v1/voices", headers=headers)

    assert response.status_code == 401
    assert response.json()["detail"]["status"] == "invalid_api_key"


def test_a_clone_without_files_answers_422_in_fastapi_shape(http):
    response = http.post("/v1/voices/add", data={"name": "x"}, files={"other": ("a", b"")}, headers=HEADERS)

    assert response.status_code == 422
    assert_documented(response, "POST", "/v1/voices/add")
    locations = [item["loc"] for item in response.json()["detail"]]
    assert ["body", "files"] in locations


@pytest.mark.parametrize(
    "form",
    [{"labels": "not json"}, {"labels": '{"age": 3}'}, {"remove_background_noise": "maybe"}],
)
def test_badly_typed_clone_fields_answer_422(http, form):
    assert clone(http, **form).status_code == 422


def test_an_outbound_call_with_a_wrong_body_answers_422(http):
    response = http.post(
        "/v1/convai/twilio/outbound-call", json={"agent_id": "a", "to_number": 5}, headers=HEADERS
    )

    assert response.status_code == 422
    assert_documented(response, "POST", "/v1/convai/twilio/outbound-call")


def test_unknown_paths_answer_404(http):
    assert http.get("/v1/models", headers=HEADERS).status_code == 404


# ---- voices and slots ------------------------------------------------------------------------------


def test_a_clone_is_listed_readable_and_deletable_with_documented_shapes(http, emulator):
    created = clone(http, "ann")
    assert created.status_code == 200
    assert_documented(created, "POST", "/v1/voices/add")
    voice_id = created.json()["voice_id"]
    assert len(voice_id) == 20 and voice_id.isalnum()

    listed = http.get("/v1/voices", headers=HEADERS)
    got = http.get(f"/v1/voices/{voice_id}", headers=HEADERS)
    deleted = http.delete(f"/v1/voices/{voice_id}", headers=HEADERS)

    assert_documented(listed, "GET", "/v1/voices")
    assert_documented(got, "GET", f"/v1/voices/{voice_id}")
    assert_documented(deleted, "DELETE", f"/v1/voices/{voice_id}")
    assert got.json()["category"] == "cloned" and got.json()["labels"] == {"caller": "ann"}
    assert voice_id in [voice["voice_id"] for voice in listed.json()["voices"]]
    assert http.get(f"/v1/voices/{voice_id}", headers=HEADERS).status_code == 400
    assert emulator.voices() == []


def test_premade_voices_use_no_slot_and_cannot_be_deleted(http):
    subscription = http.get("/v1/user/subscription", headers=HEADERS)

    assert_documented(subscription, "GET", "/v1/user/subscription")
    assert subscription.json()["voice_slots_used"] == 0
    assert http.get("/v1/voices/21m00Tcm4TlvDq8ikWAM", headers=HEADERS).json()["category"] == "premade"
    assert http.delete("/v1/voices/21m00Tcm4TlvDq8ikWAM", headers=HEADERS).status_code == 400


def test_a_full_account_answers_voice_limit_reached(http):
    for index in range(3):
        assert clone(http, f"v{index}").status_code == 200

    refused = clone(http, "one-too-many")
    subscription = http.get("/v1/user/subscription", headers=HEADERS).json()

    assert refused.status_code == 400
    assert refused.json()["detail"]["status"] == "voice_limit_reached"
    assert "(3 / 3)" in refused.json()["detail"]["message"]
    assert (subscription["voice_slots_used"], subscription["voice_limit"]) == (3, 3)


def test_parallel_clones_create_distinct_voices(http, emulator):
    emulator.configure(voice_limit=30, clone_latency=CloneLatency(0.05, 0.2))

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda index: clone(http, f"caller-{index}"), range(20)))

    assert [response.status_code for response in responses] == [200] * 20
    assert len({response.json()["voice_id"] for response in responses}) == 20
    assert sorted(voice["name"] for voice in emulator.voices()) == sorted(f"caller-{i}" for i in range(20))


def test_parallel_clones_never_exceed_the_slot_limit(http, emulator):
    emulator.configure(voice_limit=5, clone_latency=CloneLatency(0.1, 0.1))

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda index: clone(http, f"c{index}").status_code, range(12)))

    assert sorted(statuses) == [200] * 5 + [400] * 7
    assert len(emulator.voices()) == 5


def test_clone_latency_is_applied(http, emulator):
    emulator.configure(clone_latency=CloneLatency(0.3, 0.3))

    started = time.monotonic()
    clone(http)

    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    ("path", "call_id_field"),
    [("/v1/convai/sip-trunk/outbound-call", "sip_call_id"), ("/v1/convai/twilio/outbound-call", "callSid")],
)
def test_outbound_calls_answer_documented_shapes(http, path, call_id_field):
    body = {"agent_id": "agent", "agent_phone_number_id": "phone", "to_number": "+15550100"}

    response = http.post(path, json=body, headers=HEADERS)

    assert response.status_code == 200
    assert_documented(response, "POST", path)
    assert response.json()[call_id_field]


# ---- faults ----------------------------------------------------------------------------------------


def test_a_status_fault_applies_to_count_requests_then_stops(http, emulator):
    emulator.inject(Fault("/v1/voices", method="GET", status=429, code="system_busy", count=2))

    statuses = [http.get("/v1/voices", headers=HEADERS).status_code for _ in range(3)]

    assert statuses == [429, 429, 200]
    assert emulator.faults() == []


def test_a_fault_only_matches_its_method_and_prefix(http, emulator):
    emulator.inject(Fault("/v1/voices/add", method="POST", status=503))

    assert http.get("/v1/voices", headers=HEADERS).status_code == 200
    assert http.get("/v1/user/subscription", headers=HEADERS).status_code == 200
    assert clone(http).status_code == 503


def test_an_always_fault_stays_until_cleared_over_http(http):
    http.post("/_emulator/faults", json={"path_prefix": "/v1/user", "status": 500, "always": True})

    assert [http.get("/v1/user/subscription", headers=HEADERS).status_code for _ in range(3)] == [500] * 3
    assert http.delete("/_emulator/faults").status_code == 200
    assert http.get("/v1/user/subscription", headers=HEADERS).status_code == 200


def test_a_fault_with_unknown_fields_is_refused(http):
    assert http.post("/_emulator/faults", json={"path": "/v1"}).status_code == 400
    assert http.post("/_emulator/faults", json={"kind": "explode"}).status_code == 400


def test_a_hang_fault_outlasts_the_client_timeout(emulator):
    emulator.inject(Fault("/v1/voices", kind="hang", seconds=1.5))

    with web.client(base_url=emulator.base_url, timeout=0.3) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get("/v1/voices", headers=HEADERS)


def test_a_status_fault_with_seconds_answers_its_error_after_them(emulator):
    # Under a second of wall clock: the client gives up after 0.2 s, the answer comes at 0.6 s.
    emulator.inject(Fault("/v1/voices/add", status=422, code="invalid_audio", seconds=0.6))

    with web.client(base_url=emulator.base_url, timeout=0.2) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post("/v1/voices/add", headers=HEADERS, data={"name": "slow-no"})
    eventually(lambda: emulator.requests("/v1/voices/add"), within=10, what="the answer recorded")
    assert [record["status"] for record in emulator.requests("/v1/voices/add")] == [422]
    assert emulator.voices() == []


def test_an_after_effect_fault_does_the_work_then_answers_the_error(http, emulator):
    emulator.inject(Fault("/v1/voices/add", kind="after_effect_status", status=500))

    response = clone(http, "lost-answer")

    assert response.status_code == 500
    assert [voice["name"] for voice in emulator.voices()] == ["lost-answer"]


def test_a_late_answer_fault_makes_the_voice_before_it_answers(emulator):
    emulator.inject(Fault("/v1/voices/add", kind="late_answer", seconds=1.0))

    with ThreadPoolExecutor(1) as pool, web.client(base_url=emulator.base_url, timeout=10) as client:
        answer = pool.submit(clone, client, "late")
        deadline = time.monotonic() + 5
        while not emulator.voices() and time.monotonic() < deadline:
            time.sleep(0.02)
        voices_before_the_answer = [voice["name"] for voice in emulator.voices()]
        assert not answer.done() and emulator.in_flight("/v1/voices/add") == 1
        response = answer.result()

    assert voices_before_the_answer == ["late"]
    assert response.status_code == 200
    assert response.json()["voice_id"] == emulator.voices()[0]["voice_id"]


def test_a_429_fault_has_the_elevenlabs_body(http, emulator):
    emulator.inject(Fault("/v1/voices", status=429, code="concurrent_limit_exceeded", body_style="code"))

    detail = http.get("/v1/voices", headers=HEADERS).json()["detail"]

    assert detail["code"] == "concurrent_limit_exceeded"
    assert detail["message"]


# ---- recording and control -------------------------------------------------------------------------


def test_requests_are_recorded_without_the_api_key(http, emulator):
    clone(http, "recorded")
    http.get("/v1/voices", params={"show_legacy": "true"}, headers=HEADERS)

    records = http.get("/_emulator/requests").json()

    assert [(record["method"], record["path"], record["status"]) for record in records] == [
        ("POST", "/v1/voices/add", 200),
        ("GET", "/v1/voices", 200),
    ]
    assert records[0]["form"]["name"] == ["recorded"]
    assert records[0]["files"][0]["filename"] == "sample.mp3"
    assert records[1]["query"] == {"show_legacy": ["true"]}
    assert all(record["received_at"] <= record["answered_at"] for record in records)
    assert API_KEY not in json.dumps(records)
    assert emulator.requests("/v1/voices/add")[0]["path"] == "/v1/voices/add"


def test_reset_clears_voices_faults_and_records(http, emulator):
    clone(http)
    emulator.inject(Fault("/v1", always=True))

    http.post("/_emulator/reset")

    assert http.get("/_emulator/voices").json() == []
    assert http.get("/_emulator/faults").json() == []
    assert http.get("/_emulator/requests").json() == []


def test_config_changes_the_voice_limit_and_latency(http):
    answer = http.post(
        "/_emulator/config", json={"voice_limit": 1, "clone_latency": {"min_seconds": 0, "max_seconds": 0}}
    )

    assert answer.json()["voice_limit"] == 1
    assert clone(http).status_code == 200
    assert clone(http).status_code == 400


def test_clone_latency_presets():
    assert CloneLatency.realistic() == CloneLatency(5, 30)
    assert CloneLatency.demo() == CloneLatency(5, 30, scale=0.25)
    assert CloneLatency.instant().max_seconds == 0
    with pytest.raises(ValueError):
        CloneLatency(3, 1)


def test_process_mode_prints_its_url_and_stops_on_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "emulators.elevenlabs", "--port", "0", "--api-key", API_KEY],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("ELEVENLABS_BASE_URL=http://127.0.0.1:")
        base_url = line.partition("=")[2]
        assert web.get(base_url + "/v1/user/subscription", headers=HEADERS).status_code == 200
        process.terminate()
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.stdout.close()


def test_requests_in_flight_across_a_reset_leave_no_trace(http, emulator):
    emulator.configure(clone_latency=CloneLatency(0.4, 0.4))

    with ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = pool.submit(clone, http, "before-reset")
        time.sleep(0.1)
        emulator.reset()
        assert in_flight.result().status_code == 200

    assert emulator.voices() == []
    assert emulator.requests() == []


# ---- the voices API as ElevenLabs has behaved ------------------------------------------------------


def test_deleting_a_voice_that_is_gone_answers_400_voice_not_found(http):
    voice_id = clone(http, "gone").json()["voice_id"]
    assert http.delete(f"/v1/voices/{voice_id}", headers=HEADERS).status_code == 200

    again = http.delete(f"/v1/voices/{voice_id}", headers=HEADERS)

    assert again.status_code == 400
    assert again.json()["detail"]["status"] == "voice_not_found"


def test_v2_voices_searches_names_and_pages_with_tokens(http, emulator):
    emulator.configure(voice_limit=30)
    for index in range(7):
        assert clone(http, f"warmline-ck_{index:032x}-job{index}").status_code == 200
    assert clone(http, "somebody else").status_code == 200

    seen, token, pages = [], None, 0
    while True:
        params = {"search": "warmline-", "page_size": 3} | ({"next_page_token": token} if token else {})
        page = http.get("/v2/voices", params=params, headers=HEADERS)
        assert page.status_code == 200
        assert_documented(page, "GET", "/v2/voices")
        body = page.json()
        seen += [voice["name"] for voice in body["voices"]]
        pages += 1
        if not body["has_more"]:
            assert body["next_page_token"] is None
            break
        token = body["next_page_token"]

    assert pages == 3 and len(seen) == 7 and len(set(seen)) == 7
    assert all(name.startswith("warmline-") for name in seen)


def test_v2_voices_puts_the_default_voices_on_the_first_page_beyond_its_size(http):
    clone(http, "mine")

    first = http.get("/v2/voices", params={"page_size": 1}, headers=HEADERS).json()

    categories = [voice["category"] for voice in first["voices"]]
    assert categories.count("premade") == 2 and categories.count("cloned") == 1


@pytest.mark.parametrize("params", [{"page_size": 101}, {"page_size": "ten"}, {"cursor": "x"}])
def test_v2_voices_refuses_parameters_it_does_not_document(http, params):
    assert http.get("/v2/voices", params=params, headers=HEADERS).status_code == 422


def test_the_add_edit_counter_counts_clones_and_stops_them_at_the_maximum(http, emulator):
    emulator.configure(voice_limit=30, max_voice_add_edits=2)
    assert clone(http, "a").status_code == 200
    voice_id = clone(http, "b").json()["voice_id"]
    http.delete(f"/v1/voices/{voice_id}", headers=HEADERS)

    refused = clone(http, "c")
    subscription = http.get("/v1/user/subscription", headers=HEADERS).json()

    assert refused.status_code == 400
    assert refused.json()["detail"]["status"] == "voice_add_edit_limit_reached"
    assert (subscription["voice_add_edit_counter"], subscription["max_voice_add_edits"]) == (2, 2)
    assert subscription["voice_slots_used"] == 1  # a delete frees a slot, not an add/edit
