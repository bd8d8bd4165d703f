"""The post-call webhook's signature check (warmline.post_call), as ElevenLabs' SDK
`webhooks.construct_event` does it: t=<timestamp>,v0=<HMAC-SHA256 of "<t>.<body>">, 30 minutes."""

import pytest

from emulators.post_call import signature
from warmline.post_call import TOLERANCE_SECONDS, BadSignature, verify_signature

NOW = 1_796_600_000
BODY = b'{"type":"post_call_transcription","data":{"conversation_id":"conv_1"}}'


def test_a_signature_by_either_accepted_secret_passes_a_rotation():
    header = signature("previous", NOW - 5, BODY)

    verify_signature(header, BODY, ["current", "previous"], NOW)  # no BadSignature


@pytest.mark.parametrize(
    ("header", "body", "problem"),
    [
        ("v0=abc", BODY, "must be t=<timestamp>,v0=<signature>"),
        ("t=soon,v0=abc", BODY, "must be t=<timestamp>,v0=<signature>"),
        (signature("current", NOW, BODY), BODY + b" ", "does not match the body"),
        (signature("current", NOW + TOLERANCE_SECONDS + 1, BODY), BODY, "outside the tolerance window"),
        ("", BODY, "missing ElevenLabs-Signature header"),
    ],
)
def test_a_delivery_that_is_not_signed_as_elevenlabs_signs_is_refused_saying_why(header, body, problem):
    with pytest.raises(BadSignature, match=problem.replace("<", ".").replace(">", ".")):
        verify_signature(header, body, ["current"], NOW)
