"""The 3CX Call Flow Designer project that routes a call through warmline (`warmline 3cx flow`).

Two files, in the XML format of 3CX's public samples (github.com/3cx/cfd-demos): `Warmline.cfdproj`
(the project, with the 3CX secret as the project variable `project$.WarmlineSecret`, as the
OrderByPhone sample keeps its database password) and `Main.flow`:

    warmlineIncomingCall   Web Service REST: POST the caller to IncomingCallUrl, the secret header
    checkAnswer            EQUAL(warmlineIncomingCall.ResponseStatusCode,200)?
      answered             readRoute (JSON parser): `route` -> callflow$.route
                           chooseRoute: "agent" -> transfer to the agent,
                                        "agent_callback" -> hang up (the agent calls back),
                                        anything else -> transfer to the agent
      notAnswered          transfer to the agent (it answers in its own voice)
    ErrorHandlerFlow       (a timeout or a refused connection) transfer to the agent

Every expression is CFD's function syntax over declared variables; the simulated 3CX
(emulators/threecx_flow.py) routes the local stack's calls by reading these same files.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

PROJECT_FILE = "Warmline.cfdproj"
FLOW_FILE = "Main.flow"
TIMEOUT_SECONDS = 8  # the webhook's cold start plus a WAN round trip
SECRET_HEADER = "X-Warmline-Secret"

REST = "warmlineIncomingCall"
SECRET_VARIABLE = "project$.WarmlineSecret"
ROUTE_VARIABLE = "callflow$.route"
CONTENT = (
    'CONCATENATE("{\\"caller\\":\\"",session.ani,"\\",\\"did\\":\\"",session.did,'
    '"\\",\\"call_id\\":\\"",session.callid,"\\"}")'
)
ANSWERED = f"EQUAL({REST}.ResponseStatusCode,200)"
ROUTE_AGENT = f'EQUAL({ROUTE_VARIABLE},"agent")'
ROUTE_CALLBACK = f'EQUAL({ROUTE_VARIABLE},"agent_callback")'

# The XAML namespaces of the samples' flows (CFD 18's, as in samples/CRMLookup/Main.flow).
NS_COMPONENTS = (
    "clr-namespace:TCX.CFD.Classes.Components;Assembly=3CX Call Flow Designer, Version=18.0.52.0, "
    "Culture=neutral, PublicKeyToken=7cb95a1a133e706e"
)
NS_XAML = "http://schemas.microsoft.com/winfx/2006/xaml"
_SERIALIZED = (
    '<?xml version="1.0" encoding="utf-16"?><{0} xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{1}</{0}>'
)
_BRANCH = "Execution path when the specified condition is met."


@dataclass(frozen=True)
class FlowSettings:
    incoming_call_url: str
    threecx_secret: str
    agent_number: str  # what the Transfer components dial: the number that reaches the ElevenLabs agent


def literal(text: str) -> str:
    """A CFD string literal: in double quotes, with \\ and " escaped by a backslash."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def project_files(settings: FlowSettings) -> dict[str, str]:
    """File name -> text: the project an administrator opens in the Call Flow Designer."""
    return {PROJECT_FILE: _project(settings), FLOW_FILE: _flow(settings)}


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def _component(kind: str, name: str, children: str = "", **attributes: str) -> str:
    attrs = "".join(f' {key}="{_attr(value)}"' for key, value in attributes.items())
    head = f'<ns0:{kind}{attrs} DebugModeActive="False" x:Name="{name}"'
    return f"{head}>{children}</ns0:{kind}>" if children else f"{head} />"


def _variable(name: str, initial: str | None, visible: bool) -> str:
    initial_value = "" if initial is None else f"<InitialValue>{escape(initial)}</InitialValue>"
    return (
        f"<Variable><Name>{name}</Name>{initial_value}<ShowScopeProperty>false</ShowScopeProperty>"
        f"<DebuggerVisible>{'true' if visible else 'false'}</DebuggerVisible></Variable>"
    )


def _variables(*variables: str) -> str:
    return _SERIALIZED.format("ArrayOfVariable", "".join(variables)).split("?>", 1)[1]


def _project(settings: FlowSettings) -> str:
    secret = _variable("WarmlineSecret", literal(settings.threecx_secret), visible=False)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<Graphical_Application_Designer_Project>'
        f'<Version>2.1</Version><Files><File path="{FLOW_FILE}" type="callflow" /></Files>'
        f"<Variables>{_variables(secret)}</Variables>"
        "<DebugBuildSuccessful>False</DebugBuildSuccessful><ReleaseBuildSuccessful>False</ReleaseBuildSuccessful>"
        "<DebugBuildNumber>0</DebugBuildNumber><ReleaseBuildNumber>0</ReleaseBuildNumber>"
        "<ChangedSinceLastDebugBuild>True</ChangedSinceLastDebugBuild>"
        "<DoNotAskForExtension>False</DoNotAskForExtension><Extension></Extension>"
        "<OnlineServicesTextToSpeechEngine>None</OnlineServicesTextToSpeechEngine>"
        "<OnlineServicesSpeechToTextEngine>None</OnlineServicesSpeechToTextEngine>"
        "</Graphical_Application_Designer_Project>\n"
    )


def _rest_component(settings: FlowSettings) -> str:
    header = f"<Parameter><Name>{SECRET_HEADER}</Name><Value>{SECRET_VARIABLE}</Value></Parameter>"
    return _component(
        "WebServiceRestComponent",
        REST,
        URI=literal(settings.incoming_call_url),
        HttpRequestType="POST",
        ContentType="application/json",
        Content=CONTENT,
        HeaderList=_SERIALIZED.format("ArrayOfParameter", header),
        AuthenticationType="None",
        AuthenticationUserName="",
        AuthenticationPassword="",
        AuthenticationApiKey="",
        AuthenticationOAuth2AccessToken="",
        Timeout=str(TIMEOUT_SECONDS),
    )


def _transfer(name: str, settings: FlowSettings) -> str:
    return _component("TransferComponent", name, Destination=literal(settings.agent_number))


def _branch(name: str, condition: str, *children: str) -> str:
    return _component(
        "ConditionalComponentBranch", name, "".join(children), Condition=condition, Description=_BRANCH
    )


def _route_choice(settings: FlowSettings) -> str:
    mapping = f"<ResponseMapping><Path>route</Path><Variable>{ROUTE_VARIABLE}</Variable></ResponseMapping>"
    parser = _component(
        "JsonXmlParserComponent",
        "readRoute",
        TextType="JSON",
        Input=f"{REST}.ResponseContent",
        ResponseMappingsList=_SERIALIZED.format("ArrayOfResponseMapping", mapping),
    )
    branches = (
        _branch("routeAgent", ROUTE_AGENT, _transfer("transferToAgent", settings)),
        # The webhook placed an outbound call with the greeting: free the caller's line for it.
        _branch("routeCallback", ROUTE_CALLBACK, _component("DisconnectCallComponent", "hangUpForCallback")),
        _branch("routeOther", "", _transfer("transferOnOtherRoute", settings)),
    )
    return parser + _component("ConditionalComponent", "chooseRoute", "".join(branches))


def _flow_element(kind: str, description: str, children: str) -> str:
    head = (
        f'<ns0:{kind} Description="{description}" DebugModeActive="False" x:Name="Main" '
        f'xmlns:x="{NS_XAML}" xmlns:ns0="{_attr(NS_COMPONENTS)}"'
    )
    return f"<{kind}>{head}>{children}</ns0:{kind}></{kind}>" if children else f"<{kind}>{head} /></{kind}>"


def _flow(settings: FlowSettings) -> str:
    check = _component(
        "ConditionalComponent",
        "checkAnswer",
        _branch("answered", ANSWERED, _route_choice(settings))
        + _branch("notAnswered", "", _transfer("transferOnFailedAnswer", settings)),
    )
    route = _variable("route", None, visible=True)
    flows = (
        _flow_element("MainFlow", "Callflow execution path.", _rest_component(settings) + check)
        + _flow_element(
            "ErrorHandlerFlow", "Execution path when an error ocurrs.", _transfer("transferOnError", settings)
        )
        + _flow_element("DisconnectHandlerFlow", "Execution path since the call gets disconnected.", "")
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<File><Version>2.1</Version>'
        f"<Variables>{_variables(route)}</Variables><Flows>{flows}</Flows></File>\n"
    )
