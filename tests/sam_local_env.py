"""Print, as JSON, the environment `sam local invoke --env-vars ENV_JSON` gives each function of
TEMPLATE, computed by the SAM CLI's own code (run with the SAM CLI's Python: .tools/sam/bin/python).

Usage: sam_local_env.py TEMPLATE ENV_JSON
"""

import json
import sys

from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.local.lambdafn.env_vars import EnvironmentVariables


def main(template_path: str, env_json_path: str) -> None:
    with open(env_json_path) as file:
        overrides = json.load(file)
    stacks, _ = SamLocalStackProvider.get_stacks(template_path, parameter_overrides={})
    functions = SamFunctionProvider(stacks, ignore_code_extraction_warnings=True).get_all()
    resolved = {}
    for function in functions:
        variables = EnvironmentVariables(
            function.name,
            function.memory,
            function.timeout,
            function.handler,
            variables=(function.environment or {}).get("Variables"),
            override_values={**overrides.get("Parameters", {}), **overrides.get(function.name, {})},
        )
        resolved[function.name] = variables.resolve()
    print(json.dumps(resolved))


if __name__ == "__main__":
    main(*sys.argv[1:])
