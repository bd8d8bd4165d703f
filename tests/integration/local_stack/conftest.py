from pathlib import Path

import pytest

from local.stack import LocalStack, StackOptions

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_TEMPLATE = FIXTURES / "template.yaml"
REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def fixture_stack(tmp_path_factory):
    """The fixture template running on loopback: moto, gateway, functions and the SQS poller."""
    state_dir = tmp_path_factory.mktemp("state")
    with LocalStack(
        FIXTURE_TEMPLATE,
        state_dir=state_dir,
        options=StackOptions(
            secret_values={"TokenSecret": "token-value"},
            # Long enough for a cold batch invocation on a loaded machine: a record still being
            # processed when it turns visible again is delivered twice (SQS is at-least-once).
            visibility_timeout_override=3,
        ),
    ) as stack:
        yield stack
