"""samconfig.toml's environments name only parameters the template declares, with values it accepts
and no secret; `make deploy` runs the commands docs/deployment.md and the README say it runs."""

import re
import shlex
import subprocess
import tomllib

import pytest

from local import template
from tests.aws_harness import ROOT

SAMCONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text())
PARAMETERS = template.read_yaml(ROOT / "template.yaml")["Parameters"]
ENVIRONMENTS = ("dev", "prod")
SECRET_LIKE = re.compile(r"secret|password|token|api_?key|pepper", re.IGNORECASE)


def secret_like(name: str) -> bool:
    """A parameter that could carry a secret value (SecretOverlapSeconds, a number, cannot)."""
    declared = PARAMETERS.get(name, {})
    return declared.get("NoEcho") is True or (
        bool(SECRET_LIKE.search(name)) and declared.get("Type") != "Number"
    )


def overrides(environment: str, command: str) -> dict[str, str]:
    text = SAMCONFIG[environment].get(command, {}).get("parameters", {}).get("parameter_overrides", "")
    pairs = [item.partition("=") for item in shlex.split(text)]
    assert all(separator for _, separator, _ in pairs), f"{environment}: NAME=VALUE pairs only: {text!r}"
    return {name: value for name, _, value in pairs}


def make_dry_run(*arguments: str) -> list[str]:
    done = subprocess.run(
        ["make", "-n", *arguments], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return [line for line in done.stdout.splitlines() if "/bin/sam " in line]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_deploys_its_own_stack_without_a_prompt_but_the_change_set(environment):
    deploy = SAMCONFIG[environment]["deploy"]["parameters"]
    assert SAMCONFIG[environment]["global"]["parameters"]["stack_name"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"  # the template creates its roles
    assert deploy["resolve_s3"] is True
    assert deploy["fail_on_empty_changeset"] is False  # `make deploy` with nothing new is not an error


def test_dev_and_prod_are_different_stacks_and_prod_asks_before_it_changes():
    names = {SAMCONFIG[env]["global"]["parameters"]["stack_name"] for env in ENVIRONMENTS}
    assert len(names) == len(ENVIRONMENTS)
    assert SAMCONFIG["prod"]["deploy"]["parameters"]["confirm_changeset"] is True
    assert SAMCONFIG["dev"]["deploy"]["parameters"]["confirm_changeset"] is False


@pytest.mark.parametrize("environment", ["default", *ENVIRONMENTS])
@pytest.mark.parametrize("command", ["deploy", "sync"])
def test_parameter_overrides_name_declared_parameters_with_values_the_template_accepts(environment, command):
    for name, value in overrides(environment, command).items():
        assert name in PARAMETERS, (
            f"samconfig [{environment}.{command}] sets {name}, which the template lacks"
        )
        assert not secret_like(name), f"{name}: secrets never go in parameters"
        declared = PARAMETERS[name]
        if "AllowedValues" in declared:
            assert value in {str(v) for v in declared["AllowedValues"]}, (name, value)
        if declared["Type"] == "Number":
            number = float(value)
            assert declared.get("MinValue", number) <= number <= declared.get("MaxValue", number), (
                name,
                value,
            )


def test_the_dev_sync_uses_the_dev_stack_and_its_parameters():
    assert overrides("dev", "sync") == overrides("dev", "deploy")


def test_no_template_parameter_carries_a_secret():
    assert not [name for name in PARAMETERS if secret_like(name)]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_make_deploy_builds_and_deploys_with_the_environment(environment):
    commands = make_dry_run("deploy", f"ENV={environment}")
    assert [line.split("/bin/sam ", 1)[1] for line in commands] == [
        f"build --config-env {environment}",
        f"deploy --config-env {environment} ",
    ]


def test_make_deploy_defaults_to_dev_and_passes_a_region():
    assert make_dry_run("deploy")[-1].endswith("sam deploy --config-env dev ")
    assert make_dry_run("deploy", "REGION=eu-west-1")[-1].endswith("--config-env dev --region eu-west-1")


def test_make_sync_watches_the_dev_stack_and_refuses_prod():
    assert make_dry_run("sync")[-1].endswith("sam sync --config-env dev  --watch")
    refused = subprocess.run(
        ["make", "-n", "sync", "ENV=prod"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0 and "use 'make deploy ENV=prod'" in refused.stderr


@pytest.mark.parametrize("document", ["docs/deployment.md", "README.md"])
def test_the_docs_show_the_commands_make_deploy_runs(document):
    text = (ROOT / document).read_text()
    for command in (
        "make deploy",
        "make deploy ENV=prod",
        "sam build --config-env",
        "sam deploy --config-env",
    ):
        assert command in text, f"{document} does not mention {command!r}"
    assert "has no authentication. Is this okay?" in text
    assert "sam sync --watch" in text or "make sync" in text


def test_make_deploy_names_an_environment_samconfig_lacks():
    refused = subprocess.run(
        ["make", "-n", "deploy", "ENV=staging"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0
    assert "samconfig.toml has no environment 'staging'" in refused.stderr


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("http://127.0.0.1:5100", True),
        ("https://aws.example.com", False),
        ("http://10.0.0.1", False),
    ],
)
def test_the_local_aws_endpoint_parameter_takes_only_loopback(value, accepted):
    # Only `sam local invoke` sets it; in AWS no parameter may send the functions' AWS calls elsewhere.
    pattern = PARAMETERS["LocalAwsEndpointUrl"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is accepted
