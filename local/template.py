"""Read a SAM template and resolve it into the plain model the local stack runs.

The template is the single source of truth: functions, routes, event sources, tables, queues,
buckets and secrets all come from it, with intrinsic functions resolved against the parameters
and against the local physical ids of the resources (names, queue URLs, ARNs on moto).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
NO_VALUE = object()

DEFAULT_TIMEOUT_S = 3
DEFAULT_MEMORY_MB = 128


class TemplateError(ValueError):
    pass


# --- YAML with CloudFormation short tags -------------------------------------------------------


# libyaml's parser when PyYAML has it (about ten times faster on the template), the pure-Python one if not.
class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    pass


def _construct_short_tag(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_short_tag)


def read_yaml(path: Path) -> dict[str, Any]:
    with open(path) as handle:
        return yaml.load(handle, Loader=_CfnLoader)


# --- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRoute:
    name: str
    function: str
    method: str
    path: str

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class SqsEventSource:
    name: str
    function: str
    queue: str
    batch_size: int
    report_batch_item_failures: bool
    maximum_concurrency: int | None


@dataclass(frozen=True)
class ScheduleSource:
    """A `Schedule` event (an EventBridge rule): the function runs every `period_seconds`."""

    name: str
    function: str
    expression: str  # as written: rate(5 minutes)
    period_seconds: float
    rule_arn: str
    enabled: bool = True
    input: Any = None  # the rule's constant Input (a JSON document), sent instead of the event


_RATE = re.compile(r"^rate\(\s*(?P<value>[1-9][0-9]*)\s+(?P<unit>minutes?|hours?|days?)\s*\)$")
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def schedule_period_seconds(expression: str) -> float:
    """The period of a `rate(...)` schedule expression. EventBridge's cron(...) is not run locally."""
    found = _RATE.match(expression.strip())
    if found is None:
        raise TemplateError(
            f"schedule {expression!r}: the local stack runs rate(N minute|minutes|hour|hours|day|days) "
            "schedules only"
        )
    return int(found["value"]) * _RATE_UNITS[found["unit"].rstrip("s")]


@dataclass
class Function:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    environment: dict[str, str]
    layer_dirs: list[Path]
    reserved_concurrency: int | None = None
    role: str | None = None  # the logical id of its AWS::IAM::Role, when the template gives it one
    # The role's policy statements, resolved: its inline policies and the AWS::IAM::Policy resources
    # attached to it (conditions applied, ARNs as on the local stack).
    permissions: list[dict[str, Any]] = field(default_factory=list)
    routes: list[HttpRoute] = field(default_factory=list)
    sqs_sources: list[SqsEventSource] = field(default_factory=list)
    schedules: list[ScheduleSource] = field(default_factory=list)


@dataclass
class Table:
    logical_id: str
    name: str
    arn: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    ttl_attribute: str | None


@dataclass
class Queue:
    logical_id: str
    name: str
    url: str
    arn: str
    visibility_timeout: int
    message_retention_period: int | None
    dead_letter_queue: str | None
    max_receive_count: int | None


@dataclass
class Bucket:
    logical_id: str
    name: str
    arn: str
    versioned: bool = False


@dataclass
class Secret:
    logical_id: str
    name: str
    arn: str
    description: str


@dataclass(frozen=True)
class HttpApiSettings:
    """The stage's default route throttling and its access log format, when the template sets them."""

    throttling_rate_limit: float | None = None
    throttling_burst_limit: int | None = None
    access_log_format: str | None = None


@dataclass
class StackModel:
    template_path: Path
    parameters: dict[str, Any]
    http_api_id: str
    functions: dict[str, Function]
    tables: dict[str, Table]
    queues: dict[str, Queue]
    buckets: dict[str, Bucket]
    secrets: dict[str, Secret]
    http_api: HttpApiSettings = field(default_factory=HttpApiSettings)

    @property
    def routes(self) -> list[HttpRoute]:
        return [route for function in self.functions.values() for route in function.routes]

    @property
    def sqs_sources(self) -> list[SqsEventSource]:
        return [source for function in self.functions.values() for source in function.sqs_sources]

    @property
    def schedules(self) -> list[ScheduleSource]:
        return [schedule for function in self.functions.values() for schedule in function.schedules]


@dataclass(frozen=True)
class LocalIds:
    """How local resources are named: physical ids follow the stack name and the moto endpoint.

    Secrets Manager picks a random ARN suffix, so the real ARNs are passed in once the secrets exist;
    until then a secret's ARN is the partial ARN (without the suffix), which Secrets Manager accepts too.
    """

    stack_name: str = "local"
    aws_endpoint_url: str = "http://127.0.0.1:5000"
    region: str = REGION
    account_id: str = ACCOUNT_ID
    secret_arns: dict[str, str] = field(default_factory=dict)

    def physical_name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def bucket_name(self, logical_id: str) -> str:
        return re.sub(r"[^a-z0-9-]", "-", f"{self.stack_name}-{logical_id}".lower())[:63]

    def http_api_id(self, logical_id: str) -> str:
        return re.sub(r"[^a-z0-9]", "", f"{self.stack_name}{logical_id}".lower())[:10]


# --- loading -----------------------------------------------------------------------------------


def load(
    template_path: str | Path,
    parameter_overrides: dict[str, Any] | None = None,
    local_ids: LocalIds | None = None,
) -> StackModel:
    path = Path(template_path).resolve()
    document = read_yaml(path)
    parameters = _parameter_values(document.get("Parameters", {}), parameter_overrides or {})
    return _Resolver(path, document, parameters, local_ids or LocalIds()).model()


def _parameter_values(declared: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"unknown template parameter(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in overrides:
            value = overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"template parameter {name} has no default and no override")
        _check_parameter(name, spec, value)
        values[name] = value
    return values


def _check_parameter(name: str, spec: dict[str, Any], value: Any) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in allowed and str(value) not in map(str, allowed):
        raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern and not re.fullmatch(pattern, str(value)):
        raise TemplateError(f"parameter {name}={value!r} does not match {pattern}")
    if spec.get("Type") == "Number":
        number = float(value)
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise TemplateError(f"parameter {name}={value} is below its MinValue {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise TemplateError(f"parameter {name}={value} is above its MaxValue {spec['MaxValue']}")


def _as_env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _merge_globals(global_props: dict[str, Any], own_props: dict[str, Any]) -> dict[str, Any]:
    """SAM's Globals rules: maps merge (the resource wins), lists add up (globals first), scalars override."""
    merged = copy.deepcopy(global_props)
    for key, value in own_props.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and not _is_intrinsic(value):
            merged[key] = _merge_globals(merged[key], value)
        elif isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = merged[key] + value
        else:
            merged[key] = value
    return merged


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))


class _Resolver:
    def __init__(self, path: Path, document: dict[str, Any], parameters: dict[str, Any], ids: LocalIds):
        self.path = path
        self.base_dir = path.parent
        self.document = document
        self.parameters = parameters
        self.ids = ids
        self.resources: dict[str, dict[str, Any]] = document.get("Resources", {})
        self.conditions: dict[str, Any] = document.get("Conditions", {})
        self.http_api_logical_id = next(
            (lid for lid, res in self.resources.items() if res.get("Type") == "AWS::Serverless::HttpApi"),
            "ServerlessHttpApi",
        )

    # physical ids of resources: what !Ref and !GetAtt return locally

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.ids.region,
            "AWS::AccountId": self.ids.account_id,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.ids.stack_name,
            "AWS::Partition": "aws",
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self._resource_ref(name)
        raise TemplateError(f"!Ref to unknown name {name}")

    def _resource_ref(self, logical_id: str) -> str:
        resource_type = self.resources[logical_id].get("Type")
        properties = self.resources[logical_id].get("Properties") or {}
        if resource_type == "AWS::SQS::Queue":
            return self._queue_url(logical_id)
        if resource_type == "AWS::SecretsManager::Secret":
            return self._secret_arn(logical_id)
        if resource_type == "AWS::S3::Bucket":
            return self.ids.bucket_name(logical_id)
        if resource_type == "AWS::Serverless::LayerVersion":
            return self._layer_arn(logical_id)
        if resource_type == "AWS::Serverless::HttpApi":
            return self.ids.http_api_id(logical_id)
        if resource_type == "AWS::Logs::LogGroup":
            return self.resolve(properties.get("LogGroupName")) or self.ids.physical_name(logical_id)
        return self.ids.physical_name(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.resources:
            raise TemplateError(f"!GetAtt on unknown resource {logical_id}")
        resource_type = self.resources[logical_id].get("Type")
        region, account = self.ids.region, self.ids.account_id
        if resource_type == "AWS::SQS::Queue":
            name = self.ids.physical_name(logical_id)
            return {
                "Arn": f"arn:aws:sqs:{region}:{account}:{name}",
                "QueueName": name,
                "QueueUrl": self._queue_url(logical_id),
            }[attribute]
        if resource_type == "AWS::DynamoDB::Table" and attribute == "Arn":
            return f"arn:aws:dynamodb:{region}:{account}:table/{self._resource_ref(logical_id)}"
        if resource_type == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{self.ids.bucket_name(logical_id)}"
        if resource_type == "AWS::Serverless::Function" and attribute == "Arn":
            return f"arn:aws:lambda:{region}:{account}:function:{self.ids.physical_name(logical_id)}"
        if resource_type == "AWS::IAM::Role" and attribute == "Arn":
            return f"arn:aws:iam::{account}:role/{self.ids.physical_name(logical_id)}"
        if resource_type == "AWS::Logs::LogGroup" and attribute == "Arn":
            return f"arn:aws:logs:{region}:{account}:log-group:{self._resource_ref(logical_id)}:*"
        raise TemplateError(f"!GetAtt {logical_id}.{attribute} is not supported locally")

    def _queue_url(self, logical_id: str) -> str:
        return f"{self.ids.aws_endpoint_url}/{self.ids.account_id}/{self.ids.physical_name(logical_id)}"

    def _secret_arn(self, logical_id: str) -> str:
        if logical_id in self.ids.secret_arns:
            return self.ids.secret_arns[logical_id]
        name = self.ids.physical_name(logical_id)
        return f"arn:aws:secretsmanager:{self.ids.region}:{self.ids.account_id}:secret:{name}"

    def _layer_arn(self, logical_id: str) -> str:
        name = self.ids.physical_name(logical_id)
        return f"arn:aws:lambda:{self.ids.region}:{self.ids.account_id}:layer:{name}:1"

    # intrinsic functions

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key.startswith("Fn::") or key == "Condition":
                return self._intrinsic(key, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _intrinsic(self, name: str, argument: Any) -> Any:
        if name == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(self.resolve(logical_id), self.resolve(attribute))
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self.condition(condition) else when_false)
        if name == "Fn::Equals":
            left, right = self.resolve(argument)
            return _as_env_value(left) == _as_env_value(right)
        if name == "Fn::Not":
            return not self.resolve(argument[0])
        if name == "Condition":
            return self.condition(argument)
        # The template uses Ref, GetAtt, Sub, If, Equals, Not and Condition; the local stack no more.
        raise TemplateError(f"intrinsic function {name} is not supported locally")

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(self.conditions[name]))

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = {key: self.resolve(value) for key, value in variables.items()}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return _as_env_value(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return self.get_att(logical_id, attribute)
            return _as_env_value(self.ref(expression))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    # the model

    def model(self) -> StackModel:
        model = StackModel(
            template_path=self.path,
            parameters=dict(self.parameters),
            http_api_id=self.ids.http_api_id(self.http_api_logical_id),
            functions={},
            tables={},
            queues={},
            buckets={},
            secrets={},
        )
        for logical_id, resource in self.resources.items():
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            resource_type = resource.get("Type")
            if resource_type == "AWS::DynamoDB::Table":
                model.tables[logical_id] = self._table(logical_id)
            elif resource_type == "AWS::SQS::Queue":
                model.queues[logical_id] = self._queue(logical_id)
            elif resource_type == "AWS::S3::Bucket":
                versioning = (resource.get("Properties") or {}).get("VersioningConfiguration") or {}
                model.buckets[logical_id] = Bucket(
                    logical_id,
                    self.ids.bucket_name(logical_id),
                    self.get_att(logical_id, "Arn"),
                    versioned=self.resolve(versioning.get("Status")) == "Enabled",
                )
            elif resource_type == "AWS::SecretsManager::Secret":
                properties = resource.get("Properties") or {}
                model.secrets[logical_id] = Secret(
                    logical_id,
                    self.ids.physical_name(logical_id),
                    self._secret_arn(logical_id),
                    str(self.resolve(properties.get("Description", ""))),
                )
        model.http_api = self._http_api_settings()
        queue_by_arn = {queue.arn: queue.logical_id for queue in model.queues.values()}
        for logical_id, resource in self.resources.items():
            if resource.get("Type") == "AWS::Serverless::Function":
                model.functions[logical_id] = self._function(logical_id, queue_by_arn)
        return model

    def _http_api_settings(self) -> HttpApiSettings:
        resource = self.resources.get(self.http_api_logical_id) or {}
        properties = resource.get("Properties") or {}
        throttling = self.resolve(properties.get("DefaultRouteSettings") or {})
        access_log = self.resolve(properties.get("AccessLogSettings") or {})
        rate, burst = throttling.get("ThrottlingRateLimit"), throttling.get("ThrottlingBurstLimit")
        return HttpApiSettings(
            throttling_rate_limit=float(rate) if rate is not None else None,
            throttling_burst_limit=int(burst) if burst is not None else None,
            access_log_format=access_log.get("Format"),
        )

    def _table(self, logical_id: str) -> Table:
        properties = self.resolve(self.resources[logical_id].get("Properties") or {})
        ttl = properties.get("TimeToLiveSpecification") or {}
        return Table(
            logical_id=logical_id,
            name=self._resource_ref(logical_id),
            arn=self.get_att(logical_id, "Arn"),
            key_schema=properties["KeySchema"],
            attribute_definitions=properties["AttributeDefinitions"],
            ttl_attribute=ttl.get("AttributeName") if _truthy(ttl.get("Enabled", False)) else None,
        )

    def _queue(self, logical_id: str) -> Queue:
        properties = self.resolve(self.resources[logical_id].get("Properties") or {})
        redrive = properties.get("RedrivePolicy") or {}
        if isinstance(redrive, str):
            redrive = json.loads(redrive)
        dead_letter_queue = None
        if redrive:
            target_arn = redrive["deadLetterTargetArn"]
            dead_letter_queue = next(
                (
                    lid
                    for lid in self.resources
                    if self.resources[lid].get("Type") == "AWS::SQS::Queue"
                    and self.get_att(lid, "Arn") == target_arn
                ),
                None,
            )
            if dead_letter_queue is None:
                raise TemplateError(f"{logical_id}: dead-letter queue {target_arn} is not in the template")
        retention = properties.get("MessageRetentionPeriod")
        return Queue(
            logical_id=logical_id,
            name=self.ids.physical_name(logical_id),
            url=self._queue_url(logical_id),
            arn=self.get_att(logical_id, "Arn"),
            visibility_timeout=int(properties.get("VisibilityTimeout", 30)),
            message_retention_period=int(retention) if retention is not None else None,
            dead_letter_queue=dead_letter_queue,
            max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
        )

    def _function(self, logical_id: str, queue_by_arn: dict[str, str]) -> Function:
        global_properties = (self.document.get("Globals") or {}).get("Function") or {}
        raw = _merge_globals(global_properties, self.resources[logical_id].get("Properties") or {})
        events = raw.pop("Events", {}) or {}
        properties = self.resolve(raw)
        code_uri = properties.get("CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: CodeUri must be a local directory")
        variables = (properties.get("Environment") or {}).get("Variables") or {}
        function = Function(
            logical_id=logical_id,
            name=self.ids.physical_name(logical_id),
            code_dir=(self.base_dir / code_uri).resolve(),
            handler=properties["Handler"],
            runtime=properties.get("Runtime", ""),
            timeout=int(properties.get("Timeout", DEFAULT_TIMEOUT_S)),
            memory_size=int(properties.get("MemorySize", DEFAULT_MEMORY_MB)),
            environment={name: _as_env_value(value) for name, value in variables.items()},
            layer_dirs=self._layer_dirs(properties.get("Layers", [])),
            reserved_concurrency=_optional_int(properties.get("ReservedConcurrentExecutions")),
            role=_role_id(raw.get("Role")),
        )
        if function.role is not None:
            function.permissions = self._role_statements(function.role)
        for event_name, event in events.items():
            event_properties = self.resolve(event.get("Properties") or {})
            if event.get("Type") == "HttpApi":
                function.routes.append(
                    HttpRoute(
                        name=event_name,
                        function=logical_id,
                        method=str(event_properties.get("Method", "ANY")).upper(),
                        path=event_properties.get("Path", "$default"),
                    )
                )
            elif event.get("Type") == "SQS":
                queue_arn = event_properties["Queue"]
                if queue_arn not in queue_by_arn:
                    raise TemplateError(
                        f"{logical_id}.{event_name}: queue {queue_arn} is not in the template"
                    )
                scaling = event_properties.get("ScalingConfig") or {}
                maximum = scaling.get("MaximumConcurrency")
                function.sqs_sources.append(
                    SqsEventSource(
                        name=event_name,
                        function=logical_id,
                        queue=queue_by_arn[queue_arn],
                        batch_size=int(event_properties.get("BatchSize", 10)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (event_properties.get("FunctionResponseTypes") or []),
                        maximum_concurrency=int(maximum) if maximum is not None else None,
                    )
                )
            elif event.get("Type") == "Schedule":
                function.schedules.append(self._schedule(logical_id, event_name, event_properties))
        return function

    def _schedule(self, logical_id: str, event_name: str, properties: dict[str, Any]) -> ScheduleSource:
        expression = str(properties.get("Schedule", ""))
        try:
            period = schedule_period_seconds(expression)
        except TemplateError as error:
            raise TemplateError(f"{logical_id}.{event_name}: {error}") from None
        state = str(properties.get("State", "ENABLED")).upper()
        enabled = _truthy(properties.get("Enabled", True)) and state == "ENABLED"
        raw_input = properties.get("Input")
        rule = properties.get("Name") or self.ids.physical_name(f"{logical_id}{event_name}")
        return ScheduleSource(
            name=event_name,
            function=logical_id,
            expression=expression,
            period_seconds=period,
            rule_arn=f"arn:aws:events:{self.ids.region}:{self.ids.account_id}:rule/{rule}",
            enabled=enabled,
            input=json.loads(raw_input) if isinstance(raw_input, str) else raw_input,
        )

    def _role_statements(self, role_id: str) -> list[dict[str, Any]]:
        documents = [
            policy.get("PolicyDocument", {})
            for policy in (self.resources[role_id].get("Properties") or {}).get("Policies", [])
        ]
        for resource in self.resources.values():
            if resource.get("Type") != "AWS::IAM::Policy":
                continue
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            properties = resource.get("Properties") or {}
            if {"Ref": role_id} in properties.get("Roles", []):
                documents.append(properties.get("PolicyDocument", {}))
        statements = [document.get("Statement", []) for document in documents]
        return [statement for listed in statements for statement in self.resolve(listed)]

    def _layer_dirs(self, layer_arns: list[str]) -> list[Path]:
        layer_dirs = []
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != "AWS::Serverless::LayerVersion":
                continue
            if self._layer_arn(logical_id) in layer_arns:
                content_uri = (resource.get("Properties") or {}).get("ContentUri")
                layer_dirs.append((layer_arns.index(self._layer_arn(logical_id)), content_uri))
        # Layers published elsewhere (public ARNs) have no local code; the venv provides their packages.
        return [(self.base_dir / uri).resolve() for _, uri in sorted(layer_dirs)]


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _role_id(role: Any) -> str | None:
    """`!GetAtt SomeRole.Arn` -> "SomeRole"; None for a role ARN given as text, or none at all."""
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        return role["Fn::GetAtt"][0]
    return None


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
