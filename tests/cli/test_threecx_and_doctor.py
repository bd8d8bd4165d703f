"""`warmline 3cx flow` and `warmline doctor` on the local stack."""

from __future__ import annotations

import stat

from emulators.elevenlabs import Fault
from local import aws
from warmline_cli.api import cfd_project
from warmline_cli.main import main


def test_3cx_flow_writes_the_cfd_project_and_prints_its_expressions(stack, local_args, capsys, tmp_path):
    project = tmp_path / "cfd"
    args = ["3cx", "flow", *local_args, "--project", str(project), "--agent-number", "+441000000001"]

    assert main(args) == 0

    written = {path.name: path.read_text() for path in project.iterdir()}
    assert written == cfd_project(
        stack.endpoints["IncomingCall"], stack.secrets["ThreeCxSecret"], "+441000000001"
    )
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in project.iterdir())  # holds the secret
    out = capsys.readouterr().out
    assert stack.secrets["ThreeCxSecret"] not in out
    for expected in (
        stack.endpoints["IncomingCall"],
        'CONCATENATE("{\\"caller\\":\\"",session.ani,"\\",\\"did\\":\\"",session.did,',
        "X-Warmline-Secret = project$.WarmlineSecret",
        "Timeout   8 s",
        "EQUAL(warmlineIncomingCall.ResponseStatusCode,200)",
        'EQUAL(callflow$.route,"agent")',
        'EQUAL(callflow$.route,"agent_callback")',
        "Error Handler flow",
        "TCP (5060) or TLS (5061)",
        '"From: User Part" = OriginatorCallerID',
        '"P-Asserted-Identity" = OriginatorCallerID',
        "allowed_addresses",
        "media_encryption",
    ):
        assert expected in out
    assert "==" not in out and "X-CALLER-ID" not in out


def test_3cx_flow_refuses_an_empty_agent_number_and_writes_nothing(stack, local_args, capsys, tmp_path):
    project = tmp_path / "cfd"

    assert main(["3cx", "flow", *local_args, "--project", str(project), "--agent-number", " "]) != 0

    assert "--agent-number" in capsys.readouterr().err
    assert not project.exists()


def test_doctor_is_clean_on_a_configured_stack(stack, local_args, capsys):
    assert main(["elevenlabs", "configure", *local_args, "--transfer-to", "sip:800@pbx.example.com"]) == 0
    capsys.readouterr()

    assert main(["doctor", *local_args]) == 0

    out = capsys.readouterr().out
    assert "✗" not in out
    assert "all checks passed" in out
    assert "check-clone (agent tool) answers 401 without the secret and 200 with it" in out


def test_doctor_names_an_unconfigured_agent(stack, local_args, capsys):
    assert main(["doctor", *local_args]) == 1

    out = capsys.readouterr().out
    assert "✗ workspace secret: no workspace secret holds the agent secret" in out
    assert "the conversation-initiation webhook is not set" in out
    assert "run `warmline elevenlabs configure`" in out


def test_doctor_names_a_rejected_elevenlabs_key(stack, local_args, capsys):
    arn = stack.model.secrets["ElevenLabsApiKeySecret"].arn
    secrets = aws.client("secretsmanager", stack.aws_endpoint_url)
    secrets.put_secret_value(SecretId=arn, SecretString="A" * 32)
    try:
        assert main(["doctor", *local_args]) == 1
    finally:
        secrets.put_secret_value(SecretId=arn, SecretString=stack.secrets["ElevenLabsApiKeySecret"])

    out = capsys.readouterr().out
    assert "✗ ElevenLabs rejects the API key in ElevenLabsApiKeySecret (it looks like the placeholder" in out
    # As printed, the fix line reaches the local stack's AWS, never real AWS.
    assert (
        f'aws secretsmanager put-secret-value --secret-id {arn} --secret-string "$ELEVENLABS_API_KEY" '
        f"--endpoint-url {stack.aws_endpoint_url} --region " in out
    )
    # The checks that need the key are named as not done, not left out.
    assert "✗ not checked until ElevenLabs accepts the API key: the plan's Instant Voice Cloning" in out
    assert "agent agent_warmline_local's workspace secret, check_clone tool" in out


def test_doctor_names_full_voice_slots(stack, local_args, capsys):
    main(["elevenlabs", "configure", *local_args, "--transfer-to", "sip:800@pbx.example.com"])
    stack.emulator.configure(voice_limit=0)
    try:
        assert main(["doctor", *local_args]) == 1
    finally:
        stack.emulator.configure(voice_limit=30)

    assert "✗ all 0 custom voice slots are used" in capsys.readouterr().out


def test_doctor_shows_the_add_edit_allowance_and_names_it_used_up(stack, local_args, capsys):
    main(["elevenlabs", "configure", *local_args, "--transfer-to", "sip:800@pbx.example.com"])
    stack.emulator.configure(max_voice_add_edits=40)
    assert main(["doctor", *local_args]) == 0
    assert "✓ voice add/edits: 0 of 40 used, 40 left (each clone uses one)" in capsys.readouterr().out

    stack.emulator.configure(max_voice_add_edits=0)
    assert main(["doctor", *local_args]) == 1
    assert "✗ all 0 voice add/edits of the plan are used" in capsys.readouterr().out


def test_doctor_names_an_unreachable_elevenlabs(stack, local_args, capsys):
    stack.emulator.inject(Fault(path_prefix="/v1/user/subscription", status=503, always=True))

    assert main(["doctor", *local_args]) == 1

    assert "did not answer" in capsys.readouterr().out


def test_local_without_a_running_stack_is_an_actionable_error(tmp_path, capsys):
    assert main(["doctor", "--local", "--local-state", str(tmp_path / "local.json")]) == 3

    err = capsys.readouterr().err
    assert "error: no local stack" in err and "make up" in err
