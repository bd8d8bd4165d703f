"""The simulated 3CX's Call Flow Designer app: it runs the project `warmline 3cx flow` writes.

A small interpreter of the components that project uses, with CFD's rules as the samples' compiled
code shows them (3cx/cfd-demos, `tutorials/1. Creating a Call Flow/Output/Release/CFD1.zip`,
Sources/Main.cs): components run in order; a Conditional component runs its first branch whose
condition holds (an empty condition always holds) and the flow goes on after it; the end of the main
flow disconnects the call; an error (the web server not answering within the REST component's
Timeout, a refused connection, a response the JSON parser cannot read) runs the Error Handler flow
instead. A non-200 answer is no error: the flow reads ResponseStatusCode.

Expressions are CFD's function syntax: string literals in double quotes (\\" and \\\\ escaped),
numbers, variables (`session.*`, `callflow$.*` declared in the flow, `project$.*` declared in the
project, and the outputs of components that ran) and functions. A component, attribute, function or
variable this interpreter does not know is a FlowError, as CFD's compiler would refuse it: the local
stack never routes a call by a flow the Call Flow Designer would not build.
"""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

COMPONENTS_NS = "clr-namespace:TCX.CFD.Classes.Components;"
XAML_NAME = "{http://schemas.microsoft.com/winfx/2006/xaml}Name"
_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>-?\d+)|(?P<name>[A-Za-z_][\w$.]*)|(?P<punct>[(),]))'
)


class FlowError(Exception):
    """The project is not one the Call Flow Designer would build, or uses what is not simulated."""


@dataclass
class RestCall:
    component: str
    status: int | None = None  # None: no answer (timeout, refused connection)
    content: str = ""
    error: str = ""
    answered_at: float = 0.0  # time.monotonic()


@dataclass
class FlowResult:
    action: str  # "transfer" or "disconnect"
    destination: str = ""
    rest_calls: list[RestCall] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)  # the components that ran, by name
    error_handled: bool = False
    variables: dict[str, Any] = field(default_factory=dict)


class _Fault(Exception):
    """A run-time error: CFD goes to the Error Handler flow."""


class _Ended(Exception):
    def __init__(self, action: str, destination: str = "") -> None:
        super().__init__(action)
        self.action, self.destination = action, destination


def _local(tag: str) -> str:
    namespace, _, name = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    if not namespace.startswith(COMPONENTS_NS):
        raise FlowError(f"{tag}: not a Call Flow Designer component")
    return name


def _declared(root: ET.Element, prefix: str) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for variable in root.iter("Variable"):
        initial = variable.findtext("InitialValue")
        variables[prefix + (variable.findtext("Name") or "")] = (
            Expression(initial).evaluate({}) if initial else ""
        )
    return variables


def _flow(root: ET.Element, kind: str) -> list[ET.Element]:
    holder = root.find(f"Flows/{kind}")
    if holder is None or len(holder) != 1:
        raise FlowError(f"the flow has no {kind}")
    return list(holder[0])


class CallFlow:
    """One project: its `.cfdproj` and its `Main.flow`, as text."""

    def __init__(self, files: dict[str, str]) -> None:
        projects = [text for name, text in files.items() if name.endswith(".cfdproj")]
        if len(projects) != 1 or "Main.flow" not in files:
            raise FlowError("a project is one .cfdproj and its Main.flow")
        flow = ET.fromstring(files["Main.flow"])
        self.variables = {
            **_declared(ET.fromstring(projects[0]), "project$."),
            **_declared(flow, "callflow$."),
        }
        self.main = _flow(flow, "MainFlow")
        self.error_handler = _flow(flow, "ErrorHandlerFlow")

    def run(self, session: dict[str, str], http: httpx.Client) -> FlowResult:
        """`session`: session.ani, session.did, session.callid … for this call."""
        run = _Run(dict(self.variables) | session, http)
        ended = run.flow(self.main)
        if isinstance(ended, _Fault):
            run.result.steps.append(f"error: {ended}")
            run.result.error_handled = True
            ended = run.flow(self.error_handler)
        if isinstance(ended, _Fault):  # an error in the Error Handler flow: CFD disconnects
            ended = _Ended("disconnect")
        run.result.action, run.result.destination = ended.action, ended.destination
        run.result.variables = run.variables
        return run.result


class _Run:
    def __init__(self, variables: dict[str, Any], http: httpx.Client) -> None:
        self.variables = variables
        self.http = http
        self.result = FlowResult(action="")

    def value(self, text: str) -> Any:
        return Expression(text).evaluate(self.variables)

    def flow(self, elements: list[ET.Element]) -> _Ended | _Fault:
        """Run one flow to its end: the end of a flow disconnects the call."""
        try:
            self.components(elements)
        except (_Ended, _Fault) as end:
            return end
        return _Ended("disconnect")

    def components(self, elements: list[ET.Element]) -> None:
        for element in elements:
            kind = _local(element.tag)
            handler = getattr(self, f"_{kind}", None)
            if handler is None:
                raise FlowError(f"{kind} is not simulated")
            self.result.steps.append(element.get(XAML_NAME, kind))
            handler(element)

    def _ConditionalComponent(self, element: ET.Element) -> None:
        for branch in element:
            if _local(branch.tag) != "ConditionalComponentBranch":
                raise FlowError(f"{branch.tag} in a ConditionalComponent")
            condition = branch.get("Condition", "")
            if not condition or self.value(condition) is True:
                self.result.steps.append(branch.get(XAML_NAME, "branch"))
                self.components(list(branch))
                return

    def _WebServiceRestComponent(self, element: ET.Element) -> None:
        if element.get("AuthenticationType", "None") != "None":
            raise FlowError("only AuthenticationType None is simulated")
        name = element.get(XAML_NAME, "")
        headers = {
            parameter.findtext("Name") or "": str(self.value(parameter.findtext("Value") or '""'))
            for parameter in ET.fromstring(element.get("HeaderList", "")).iter("Parameter")
        }
        content = element.get("Content", "")
        if content:
            headers["Content-Type"] = element.get("ContentType", "")
        call = RestCall(name)
        self.result.rest_calls.append(call)
        try:
            response = self.http.request(
                element.get("HttpRequestType", "POST"),
                str(self.value(element.get("URI", ""))),
                content=str(self.value(content)).encode() if content else None,
                headers=headers,
                timeout=float(element.get("Timeout", "0")) or None,
            )
        except httpx.TransportError as error:
            call.error, call.answered_at = f"{type(error).__name__}: {error}", time.monotonic()
            raise _Fault(f"{name}: {call.error}") from error
        call.status, call.content, call.answered_at = response.status_code, response.text, time.monotonic()
        self.variables[f"{name}.ResponseStatusCode"] = call.status
        self.variables[f"{name}.ResponseContent"] = call.content

    def _JsonXmlParserComponent(self, element: ET.Element) -> None:
        if element.get("TextType") != "JSON":
            raise FlowError("only TextType JSON is simulated")
        source = element.get("Input", "")
        if not re.fullmatch(r"[A-Za-z_][\w$]*\.\w+", source) or source not in self.variables:
            raise FlowError(f"JsonXmlParserComponent Input {source!r} is not a variable")
        try:
            document = json.loads(str(self.variables[source]))
        except ValueError as error:
            raise _Fault(f"{element.get(XAML_NAME)}: the input is not JSON") from error
        for mapping in ET.fromstring(element.get("ResponseMappingsList", "")).iter("ResponseMapping"):
            variable = mapping.findtext("Variable") or ""
            if variable not in self.variables:
                raise FlowError(f"response mapping into {variable!r}, which is not declared")
            self.variables[variable] = _json_path(document, mapping.findtext("Path") or "")

    def _TransferComponent(self, element: ET.Element) -> None:
        raise _Ended("transfer", str(self.value(element.get("Destination", ""))))

    def _DisconnectCallComponent(self, element: ET.Element) -> None:
        raise _Ended("disconnect")


def _json_path(document: Any, path: str) -> Any:
    value = document
    for part in path.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    return value


class Expression:
    """One CFD expression, parsed; `evaluate` gives its value over the call's variables."""

    FUNCTIONS: ClassVar[dict[str, Callable[..., Any]]] = {
        "CONCATENATE": lambda *values: "".join(str(value) for value in values),
        "EQUAL": lambda left, right: str(left) == str(right),
        "NOT_EQUAL": lambda left, right: str(left) != str(right),
        "CONTAINS": lambda text, part: str(part) in str(text),
        "AND": lambda *values: all(value is True for value in values),
        "OR": lambda *values: any(value is True for value in values),
        "NOT": lambda value: value is not True,
    }

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokens(text)

    @staticmethod
    def _tokens(text: str) -> list[tuple[str, str]]:
        tokens, position = [], 0
        while position < len(text.rstrip()):
            match = _TOKEN.match(text, position)
            if match is None or match.lastgroup is None:
                raise FlowError(f"not a CFD expression: {text!r} (at {position})")
            tokens.append((match.lastgroup, match.group(match.lastgroup)))
            position = match.end()
        return tokens

    def evaluate(self, variables: dict[str, Any]) -> Any:
        value, rest = self._parse(self.tokens, variables)
        if rest:
            raise FlowError(f"not a CFD expression: {self.text!r}")
        return value

    def _parse(self, tokens: list[tuple[str, str]], variables: dict[str, Any]) -> tuple[Any, list]:
        if not tokens:
            raise FlowError(f"not a CFD expression: {self.text!r}")
        (kind, token), rest = tokens[0], tokens[1:]
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", token[1:-1]), rest
        if kind == "number":
            return int(token), rest
        if kind == "name" and rest[:1] == [("punct", "(")]:
            return self._call(token, rest[1:], variables)
        if kind == "name":
            if token not in variables:
                raise FlowError(f"{token} is not a declared variable (in {self.text!r})")
            return variables[token], rest
        raise FlowError(f"not a CFD expression: {self.text!r}")

    def _call(self, name: str, tokens: list, variables: dict[str, Any]) -> tuple[Any, list]:
        if name not in self.FUNCTIONS:
            raise FlowError(f"{name} is not a simulated CFD function (in {self.text!r})")
        arguments = []
        while tokens[:1] != [("punct", ")")]:
            value, tokens = self._parse(tokens, variables)
            arguments.append(value)
            if tokens[:1] == [("punct", ",")]:
                tokens = tokens[1:]
            elif tokens[:1] != [("punct", ")")]:
                raise FlowError(f"not a CFD expression: {self.text!r}")
        return self.FUNCTIONS[name](*arguments), tokens[1:]
