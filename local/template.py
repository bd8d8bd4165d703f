"""Read a SAM template and resolve it into the plain model the local stack runs.

The template is the single source of truth: functions, routes, event sources, tables, queues,
buckets and secrets all come from it, with intrinsic functions resolved against the parameters
and against the local physical ids of the resources (names, queue URLs, ARNs on moto). Only what
template.yaml uses is supported; anything else is refused by name.
"""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
NO_VALUE = object()

ARN_FORMATS = {
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::SecretsManager::Secret": "arn:aws:secretsmanager:{region}:{account}:secret:{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}:*",
    "AWS::Serverless::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Serverless::LayerVersion": "arn:aws:lambda:{region}:{account}:layer:{name}:1",
}


class TemplateError(ValueError):
    pass


# libyaml's parser when PyYAML has it (about ten times faster on the template), the pure-Python one if not.
class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    pass


def _construct_short_tag(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    """`!Ref X` -> {"Ref": X}, `!GetAtt A.B` -> {"Fn::GetAtt": [A, B]}, `!If [...]` -> {"Fn::If": [...]}"""
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    else:
        value = loader.construct_sequence(node, deep=True)  # no short tag the template uses takes a map
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_short_tag)


# sha256 of a document's text -> the document parsed, pickled
_parsed: dict[bytes, bytes] = {}


def read_yaml(path: Path) -> dict[str, Any]:
    """The document at `path`, a copy of its own to change. A text parsed once is not parsed again:
    a test process loads template.yaml for every stack it builds (70 ms of libyaml each; hashing the
    text and unpickling the copy take under a millisecond)."""
    text = Path(path).read_bytes()
    digest = hashlib.sha256(text).digest()
    if digest not in _parsed:
        _parsed[digest] = pickle.dumps(yaml.load(text, Loader=_CfnLoader))
    return pickle.loads(_parsed[digest])


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
    enabled: bool
    input: Any  # the rule's constant Input (a JSON document), sent instead of the event


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
    # The policy statements of its AWS::IAM::Role, resolved: the role's inline policies and the
    # AWS::IAM::Policy resources attached to it.
    permissions: list[dict[str, Any]] = field(default_factory=list)
    routes: list[HttpRoute] = field(default_factory=list)
    sqs_sources: list[SqsEventSource] = field(default_factory=list)
    schedules: list[ScheduleSource] = field(default_factory=list)
    # Its AutoPublishAlias (API Gateway invokes the alias); None: only $LATEST is invoked.
    alias: str | None = None


@dataclass(frozen=True)
class Resource:
    logical_id: str
    name: str
    arn: str


@dataclass(frozen=True)
class Table(Resource):
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    ttl_attribute: str | None


@dataclass(frozen=True)
class Queue(Resource):
    url: str
    visibility_timeout: int
    message_retention_period: int | None
    dead_letter_queue: str | None
    max_receive_count: int | None


@dataclass(frozen=True)
class Bucket(Resource):
    versioned: bool


@dataclass(frozen=True)
class Secret(Resource):
    description: str


@dataclass(frozen=True)
class HttpApiSettings:
    """The stage's default route throttling (requests per second, burst) and its access log format,
    when the template sets them; `route_throttling` by route key, for the routes given their own."""

    throttling: tuple[float, int] | None
    access_log_format: str | None
    route_throttling: dict[str, tuple[float, int]] = field(default_factory=dict)


@dataclass
class StackModel:
    parameters: dict[str, Any]
    http_api_id: str
    http_api: HttpApiSettings
    functions: dict[str, Function] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    buckets: dict[str, Bucket] = field(default_factory=dict)
    secrets: dict[str, Secret] = field(default_factory=dict)

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
    values = {}
    for name, spec in declared.items():
        if name not in overrides and "Default" not in spec:
            raise TemplateError(f"template parameter {name} has no default and no override")
        values[name] = overrides.get(name, spec.get("Default"))
        _check_parameter(name, spec, values[name])
    return values


def _check_parameter(name: str, spec: dict[str, Any], value: Any) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and str(value) not in map(str, allowed):
        raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern and not re.fullmatch(pattern, str(value)):
        raise TemplateError(f"parameter {name}={value!r} does not match {pattern}")
    if spec.get("Type") == "Number":
        if "MinValue" in spec and float(value) < float(spec["MinValue"]):
            raise TemplateError(f"parameter {name}={value} is below its MinValue {spec['MinValue']}")
        if "MaxValue" in spec and float(value) > float(spec["MaxValue"]):
            raise TemplateError(f"parameter {name}={value} is above its MaxValue {spec['MaxValue']}")


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


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


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _throttling(settings: dict[str, Any]) -> tuple[float, int] | None:
    rate, burst = settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")
    return None if rate is None or burst is None else (float(rate), int(burst))


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


class _Resolver:
    def __init__(self, path: Path, document: dict[str, Any], parameters: dict[str, Any], ids: LocalIds):
        self.path = path
        self.globals = (document.get("Globals") or {}).get("Function") or {}
        self.parameters = parameters
        self.ids = ids
        self.resources: dict[str, dict[str, Any]] = document.get("Resources", {})
        self.conditions: dict[str, Any] = document.get("Conditions", {})
        self.pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": ids.stack_name,
            "AWS::Partition": "aws",
            "AWS::NoValue": NO_VALUE,
        }

    def _of_type(self, resource_type: str) -> list[str]:
        return [lid for lid, res in self.resources.items() if res.get("Type") == resource_type]

    def _properties(self, logical_id: str) -> dict[str, Any]:
        return self.resolve(self.resources[logical_id].get("Properties") or {})

    # physical ids of resources: what !Ref and !GetAtt return locally

    def name(self, logical_id: str) -> str:
        resource_type = self.resources[logical_id].get("Type")
        if resource_type == "AWS::S3::Bucket":
            return self.ids.bucket_name(logical_id)
        if resource_type == "AWS::Serverless::HttpApi":
            return self.ids.http_api_id(logical_id)
        if resource_type == "AWS::Logs::LogGroup":
            return self._properties(logical_id).get("LogGroupName") or self.ids.physical_name(logical_id)
        return self.ids.physical_name(logical_id)

    def arn(self, logical_id: str) -> str:
        resource_type = self.resources[logical_id].get("Type")
        if logical_id in self.ids.secret_arns:
            return self.ids.secret_arns[logical_id]
        if resource_type not in ARN_FORMATS:
            raise TemplateError(f"!GetAtt {logical_id}.Arn is not supported locally")
        return ARN_FORMATS[resource_type].format(
            region=REGION, account=ACCOUNT_ID, name=self.name(logical_id)
        )

    def queue_url(self, logical_id: str) -> str:
        return f"{self.ids.aws_endpoint_url}/{ACCOUNT_ID}/{self.ids.physical_name(logical_id)}"

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name not in self.resources:
            raise TemplateError(f"!Ref to unknown name {name}")
        resource_type = self.resources[name].get("Type")
        if resource_type == "AWS::SQS::Queue":
            return self.queue_url(name)
        if resource_type in ("AWS::SecretsManager::Secret", "AWS::Serverless::LayerVersion"):
            return self.arn(name)
        return self.name(name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.resources:
            raise TemplateError(f"!GetAtt on unknown resource {logical_id}")
        if attribute != "Arn":
            raise TemplateError(f"!GetAtt {logical_id}.{attribute} is not supported locally")
        return self.arn(logical_id)

    # intrinsic functions: the template uses Ref, GetAtt, Sub, If, Equals and Not

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key.startswith("Fn::"):
                return self._intrinsic(key, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _intrinsic(self, name: str, argument: Any) -> Any:
        if name == "Fn::GetAtt":
            logical_id, attribute = argument
            return self.get_att(logical_id, attribute)
        if name == "Fn::Sub" and isinstance(argument, str):
            return self._sub(argument)
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self.condition(condition) else when_false)
        if name == "Fn::Equals":
            left, right = self.resolve(argument)
            return _as_text(left) == _as_text(right)
        if name == "Fn::Not":
            return not self.resolve(argument[0])
        raise TemplateError(f"intrinsic function {name} is not supported locally")

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(self.conditions[name]))

    def _sub(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if "." in expression and not expression.startswith("AWS::"):
                return self.get_att(*expression.split(".", 1))
            return _as_text(self.ref(expression))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _exists(self, resource: dict[str, Any]) -> bool:
        return "Condition" not in resource or self.condition(resource["Condition"])

    # the model

    def model(self) -> StackModel:
        [http_api, *_] = self._of_type("AWS::Serverless::HttpApi") or ["ServerlessHttpApi"]
        model = StackModel(dict(self.parameters), self.ids.http_api_id(http_api), self._http_api(http_api))
        builders = {
            "AWS::DynamoDB::Table": (model.tables, self._table),
            "AWS::SQS::Queue": (model.queues, self._queue),
            "AWS::S3::Bucket": (model.buckets, self._bucket),
            "AWS::SecretsManager::Secret": (model.secrets, self._secret),
            "AWS::Serverless::Function": (model.functions, self._function),
        }
        for logical_id, resource in self.resources.items():
            if resource.get("Type") in builders and self._exists(resource):
                found, build = builders[resource["Type"]]
                found[logical_id] = build(logical_id)
        return model

    def _http_api(self, logical_id: str) -> HttpApiSettings:
        properties = self._properties(logical_id) if logical_id in self.resources else {}
        log_format = (properties.get("AccessLogSettings") or {}).get("Format")
        own = properties.get("RouteSettings") or {}
        routes = {key: _throttling(settings) for key, settings in own.items()}
        return HttpApiSettings(
            _throttling(properties.get("DefaultRouteSettings") or {}),
            log_format,
            {key: limits for key, limits in routes.items() if limits is not None},
        )

    def _table(self, logical_id: str) -> Table:
        properties = self._properties(logical_id)
        ttl = properties.get("TimeToLiveSpecification") or {}
        return Table(
            logical_id=logical_id,
            name=self.name(logical_id),
            arn=self.arn(logical_id),
            key_schema=properties["KeySchema"],
            attribute_definitions=properties["AttributeDefinitions"],
            ttl_attribute=ttl.get("AttributeName") if _truthy(ttl.get("Enabled")) else None,
        )

    def _queue(self, logical_id: str) -> Queue:
        properties = self._properties(logical_id)
        redrive = properties.get("RedrivePolicy") or {}
        return Queue(
            logical_id=logical_id,
            name=self.name(logical_id),
            url=self.queue_url(logical_id),
            arn=self.arn(logical_id),
            visibility_timeout=int(properties.get("VisibilityTimeout", 30)),
            message_retention_period=_optional_int(properties.get("MessageRetentionPeriod")),
            dead_letter_queue=self._queue_with_arn(redrive["deadLetterTargetArn"], logical_id)
            if redrive
            else None,
            max_receive_count=_optional_int(redrive.get("maxReceiveCount")),
        )

    def _queue_with_arn(self, arn: str, where: str) -> str:
        for logical_id in self._of_type("AWS::SQS::Queue"):
            if self.arn(logical_id) == arn:
                return logical_id
        raise TemplateError(f"{where}: queue {arn} is not in the template")

    def _bucket(self, logical_id: str) -> Bucket:
        versioning = self._properties(logical_id).get("VersioningConfiguration") or {}
        return Bucket(
            logical_id, self.name(logical_id), self.arn(logical_id), versioning.get("Status") == "Enabled"
        )

    def _secret(self, logical_id: str) -> Secret:
        description = str(self._properties(logical_id).get("Description", ""))
        return Secret(logical_id, self.name(logical_id), self.arn(logical_id), description)

    def _function(self, logical_id: str) -> Function:
        raw = _merge_globals(self.globals, self.resources[logical_id].get("Properties") or {})
        events = raw.pop("Events", {}) or {}
        properties = self.resolve(raw)
        if not isinstance(properties.get("CodeUri"), str):
            raise TemplateError(f"{logical_id}: CodeUri must be a local directory")
        variables = (properties.get("Environment") or {}).get("Variables") or {}
        function = Function(
            logical_id=logical_id,
            name=self.ids.physical_name(logical_id),
            code_dir=(self.path.parent / properties["CodeUri"]).resolve(),
            handler=properties["Handler"],
            runtime=properties.get("Runtime", ""),
            timeout=int(properties.get("Timeout", 3)),  # Lambda's defaults: 3 s, 128 MB
            memory_size=int(properties.get("MemorySize", 128)),
            environment={name: _as_text(value) for name, value in variables.items()},
            layer_dirs=self._layer_dirs(properties.get("Layers", [])),
            alias=properties.get("AutoPublishAlias"),
        )
        role = raw.get("Role")  # `!GetAtt SomeRole.Arn`; a role ARN given as text has no statements here
        if isinstance(role, dict) and "Fn::GetAtt" in role:
            function.permissions = self._role_statements(role["Fn::GetAtt"][0])
        for event_name, event in events.items():
            self._add_event(
                function, event_name, event.get("Type"), self.resolve(event.get("Properties") or {})
            )
        return function

    def _add_event(self, function: Function, name: str, event_type: str, properties: dict[str, Any]) -> None:
        where = f"{function.logical_id}.{name}"
        if event_type == "HttpApi":
            if "Path" not in properties or "Method" not in properties:
                raise TemplateError(f"{where}: the local stack needs the HttpApi event's Path and Method")
            route = HttpRoute(
                name, function.logical_id, str(properties["Method"]).upper(), properties["Path"]
            )
            function.routes.append(route)
        elif event_type == "SQS":
            maximum = (properties.get("ScalingConfig") or {}).get("MaximumConcurrency")
            source = SqsEventSource(
                name=name,
                function=function.logical_id,
                queue=self._queue_with_arn(properties["Queue"], where),
                batch_size=int(properties.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures"
                in properties.get("FunctionResponseTypes", []),
                maximum_concurrency=_optional_int(maximum),
            )
            function.sqs_sources.append(source)
        elif event_type == "Schedule":
            function.schedules.append(self._schedule(where, function.logical_id, name, properties))

    def _schedule(
        self, where: str, function_id: str, name: str, properties: dict[str, Any]
    ) -> ScheduleSource:
        expression = str(properties.get("Schedule", ""))
        try:
            period = schedule_period_seconds(expression)
        except TemplateError as error:
            raise TemplateError(f"{where}: {error}") from None
        rule = self.ids.physical_name(f"{function_id}{name}")
        given_input = properties.get("Input")
        return ScheduleSource(
            name=name,
            function=function_id,
            expression=expression,
            period_seconds=period,
            rule_arn=f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{rule}",
            enabled=_truthy(properties.get("Enabled", True)),
            input=json.loads(given_input) if isinstance(given_input, str) else given_input,
        )

    def _role_statements(self, role_id: str) -> list[dict[str, Any]]:
        documents = [policy["PolicyDocument"] for policy in self._properties(role_id).get("Policies", [])]
        for policy_id in self._of_type("AWS::IAM::Policy"):
            policy = self.resources[policy_id]
            if self._exists(policy) and {"Ref": role_id} in policy["Properties"].get("Roles", []):
                documents.append(self._properties(policy_id)["PolicyDocument"])
        return [statement for document in documents for statement in document.get("Statement", [])]

    def _layer_dirs(self, layer_arns: list[str]) -> list[Path]:
        # Layers published elsewhere (public ARNs) have no local code; the venv provides their packages.
        content = {
            self.arn(lid): self.resources[lid]["Properties"]["ContentUri"]
            for lid in self._of_type("AWS::Serverless::LayerVersion")
        }
        return [(self.path.parent / content[arn]).resolve() for arn in layer_arns if arn in content]
