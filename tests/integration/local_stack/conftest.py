from pathlib import Path

import pytest

from local.fork_server import PRELOAD_VARIABLE
from local.stack import LocalStack, StackOptions

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_TEMPLATE = FIXTURES / "template.yaml"
REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module", params=["new interpreters", "fork server"])
def fixture_stack(request, tmp_path_factory):
    """The fixture template running on loopback: moto, gateway, functions and the SQS poller; its
    execution environments and moto new interpreters (as `make bench` and `make demo` start them) or
    forks of local/fork_server.py (as the rest of the suite does)."""
    state_dir = tmp_path_factory.mktemp("state")
    preload = "1" if request.param == "fork server" else "0"
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv(PRELOAD_VARIABLE, preload)
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
