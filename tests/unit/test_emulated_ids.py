"""The emulators give ids of the shapes the platforms document, and warmline's masking of
number-shaped runs leaves such ids whole: what warmline stores under an id is found by it again."""

from emulators.agent_platform import new_conversation_id
from emulators.caller import new_threecx_call_id
from warmline.callers import mask_numbers

# Digits are ordinary in either id: among this many, some hold a run of 7 or more (a number's shape).
DRAWN = 300


def test_a_3cx_call_id_is_a_chid_and_is_stored_whole():
    ids = [new_threecx_call_id() for _ in range(DRAWN)]

    assert all(len(call_id) == 36 and call_id.count("-") == 4 for call_id in ids)
    assert [mask_numbers(call_id) for call_id in ids] == ids


def test_an_elevenlabs_conversation_id_has_the_documented_shape_and_is_stored_whole():
    ids = [new_conversation_id() for _ in range(DRAWN)]

    assert all(i.startswith("conv_") and len(i) == len("conv_7401k5m9x2p8ec3rqv6dtnhb0fzw") for i in ids)
    assert [mask_numbers(conversation_id) for conversation_id in ids] == ids
