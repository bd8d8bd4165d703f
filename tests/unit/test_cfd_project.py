"""The Call Flow Designer project `warmline 3cx flow` writes is made only of what 3CX's public samples
(github.com/3cx/cfd-demos at b7b920f) use: every component type, attribute, enumeration value and
serialized list below is listed with the sample file it comes from, and every expression is CFD's
function syntax over declared variables (no `route == "agent"`)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from warmline_cli import cfd

SETTINGS = cfd.FlowSettings(
    "https://abc.execute-api.eu-west-1.amazonaws.com/api/calls/incoming", 's3cr"et\\', "+441000000001"
)
NS = "{" + cfd.NS_COMPONENTS + "}"
X_NAME = "{http://schemas.microsoft.com/winfx/2006/xaml}Name"

AUTHENTICATION = "samples/Authentication/Main.flow"
CRM_LOOKUP = "samples/CRMLookup/Main.flow"
LOOP_MENU = "samples/LoopMenu/Main.flow"
# Component type -> (the sample that uses it, the attributes it has there).
SAMPLE_COMPONENTS = {
    "MainFlow": (AUTHENTICATION, {"Description", "DebugModeActive", "x:Name"}),
    "ErrorHandlerFlow": (AUTHENTICATION, {"Description", "DebugModeActive", "x:Name"}),
    "DisconnectHandlerFlow": (AUTHENTICATION, {"Description", "DebugModeActive", "x:Name"}),
    "WebServiceRestComponent": (
        AUTHENTICATION,
        {
            "Timeout",
            "AuthenticationOAuth2AccessToken",
            "x:Name",
            "Content",
            "HeaderList",
            "HttpRequestType",
            "URI",
            "ContentType",
            "AuthenticationUserName",
            "AuthenticationType",
            "DebugModeActive",
            "AuthenticationPassword",
            "AuthenticationApiKey",
        },
    ),
    "ConditionalComponent": (CRM_LOOKUP, {"Tag", "DebugModeActive", "x:Name"}),
    "ConditionalComponentBranch": (
        CRM_LOOKUP,
        {"Condition", "Description", "Tag", "DebugModeActive", "x:Name"},
    ),
    "TransferComponent": (AUTHENTICATION, {"Destination", "DebugModeActive", "x:Name"}),
    "DisconnectCallComponent": (LOOP_MENU, {"DebugModeActive", "x:Name"}),
    # No public sample has a JSON XML Parser; its attributes are the Call Flow Designer's own
    # (TCX.CFD.Classes.Components.JsonXmlParserComponent: TextType, Input, ResponseMappingsList) and
    # its ResponseMappingsList is serialized as CRMLookupComponent's in samples/CRMLookup/Main.flow.
    "JsonXmlParserComponent": (
        "CFD's JsonXmlParserComponent class",
        {"TextType", "Input", "ResponseMappingsList", "Tag", "DebugModeActive", "x:Name"},
    ),
}
# Attribute -> the values the samples give it (or CFD's own enumeration, where said).
SAMPLE_VALUES = {
    "DebugModeActive": {"False"},  # every sample
    "HttpRequestType": {"POST", "GET"},  # samples/Authentication, samples/CreditCard
    "ContentType": {"application/json"},  # samples/Authentication
    "AuthenticationType": {
        "None"
    },  # CFD's WebServiceAuthenticationTypes.None (the samples use BasicUserPassword)
    "TextType": {"JSON"},  # CFD's TextTypes.JSON
}
# The serialized lists inside attributes: (the sample, root element, item element, the item's fields).
SAMPLE_LISTS = {
    # HeaderList is empty in samples/Authentication; a Parameter's fields are those of
    # samples/DatabaseAccess's ParameterList.
    "HeaderList": ("samples/DatabaseAccess/Main.flow", "ArrayOfParameter", "Parameter", ["Name", "Value"]),
    "ResponseMappingsList": (CRM_LOOKUP, "ArrayOfResponseMapping", "ResponseMapping", ["Path", "Variable"]),
}
# The .cfdproj's elements, as in samples/CRMLookup/CRMLookup.cfdproj (Version 2.1).
PROJECT_ELEMENTS = {
    "Version",
    "Files",
    "Variables",
    "DebugBuildSuccessful",
    "ReleaseBuildSuccessful",
    "DebugBuildNumber",
    "ReleaseBuildNumber",
    "ChangedSinceLastDebugBuild",
    "DoNotAskForExtension",
    "Extension",
    "OnlineServicesTextToSpeechEngine",
    "OnlineServicesSpeechToTextEngine",
    "AmazonClientID",
    "AmazonClientSecret",
    "AmazonRegion",
    "AmazonLexicons",
    "GoogleCloudServiceAccountKeyFileName",
    "GoogleCloudServiceAccountKeyJSON",
}
# A declared variable's fields: samples/CRMLookup/Main.flow and
# samples/OrderByPhone/source/OrderByPhone.cfdproj.
VARIABLE_FIELDS = {"Name", "InitialValue", "ShowScopeProperty", "DebuggerVisible", "HelpText"}
# CFD functions, each as a sample uses it.
FUNCTIONS = {
    "CONCATENATE": AUTHENTICATION,
    "EQUAL": AUTHENTICATION,
    "CONTAINS": CRM_LOOKUP,
}
# Session variables: the compiled sample tutorials/1. Creating a Call Flow/Output/Release/CFD1.zip
# (Sources/Main.cs, InitializeVariables) sets session.ani, .callid, .dnis, .did.
SESSION_VARIABLES = {"session.ani", "session.callid", "session.dnis", "session.did"}
# Outputs of the components that precede: WebServiceRestComponent's ResponseStatusCode and
# ResponseContent (samples/Authentication/Main.flow reads validateCustomer.ResponseContent).
REST_OUTPUTS = {"ResponseStatusCode", "ResponseContent"}
# The attributes that hold expressions (URI, Content, header values, Destination, Condition: every
# sample writes them as expressions, e.g. URI="&quot;https://…&quot;", Destination="&quot;101&quot;").
EXPRESSION_ATTRIBUTES = {"URI", "Content", "Destination", "Condition"}
TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>\d+)|(?P<name>[A-Za-z_][\w$.]*)|(?P<punct>[(),]))'
)


def parsed():
    files = cfd.project_files(SETTINGS)
    assert set(files) == {"Warmline.cfdproj", "Main.flow"}
    return ET.fromstring(files["Warmline.cfdproj"]), ET.fromstring(files["Main.flow"])


def components(flow):
    for element in flow.iter():
        if element.tag.startswith(NS):
            yield element.tag[len(NS) :], element


def attribute_names(element):
    return {"x:Name" if name == X_NAME else name for name in element.attrib}


def check_expression(text, variables):
    """Parse `text` as a CFD expression; every name is a declared variable or a sample's function."""
    tokens, position = [], 0
    while position < len(text):
        match = TOKEN.match(text, position)
        assert match and match.lastgroup, f"not CFD syntax at {position}: {text!r}"
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()

    def expression(at):
        kind, token = tokens[at]
        if kind in ("string", "number"):
            return at + 1
        assert kind == "name", f"unexpected {token!r} in {text!r}"
        if at + 1 < len(tokens) and tokens[at + 1] == ("punct", "("):
            assert token in FUNCTIONS, f"{token} is no function a sample uses ({text!r})"
            at = expression(at + 2)
            while tokens[at] == ("punct", ","):
                at = expression(at + 1)
            assert tokens[at] == ("punct", ")"), text
            return at + 1
        assert token in variables, f"{token} is not declared ({text!r})"
        return at + 1

    assert expression(0) == len(tokens), f"trailing tokens in {text!r}"


def declared(project, flow):
    names = {"project$." + v.findtext("Name") for v in project.iter("Variable")}
    names |= {"callflow$." + v.findtext("Name") for v in flow.find("Variables").iter("Variable")}
    rests = [e.get(X_NAME) for kind, e in components(flow) if kind == "WebServiceRestComponent"]
    return names | SESSION_VARIABLES | {f"{rest}.{output}" for rest in rests for output in REST_OUTPUTS}


def test_every_component_and_attribute_is_one_a_sample_uses():
    _, flow = parsed()
    kinds = set()
    for kind, element in components(flow):
        assert kind in SAMPLE_COMPONENTS, f"{kind}: no sample uses it"
        sample, allowed = SAMPLE_COMPONENTS[kind]
        assert attribute_names(element) <= allowed, (
            f"{kind}: {attribute_names(element) - allowed} not in {sample}"
        )
        for name, values in SAMPLE_VALUES.items():
            assert element.get(name, next(iter(values))) in values, f"{kind} {name}={element.get(name)}"
        kinds.add(kind)
    assert {
        "WebServiceRestComponent",
        "JsonXmlParserComponent",
        "TransferComponent",
        "ErrorHandlerFlow",
    } <= kinds
    assert [child.tag for child in flow] == ["Version", "Variables", "Flows"]
    assert [child.tag for child in flow.find("Flows")] == [
        "MainFlow",
        "ErrorHandlerFlow",
        "DisconnectHandlerFlow",
    ]


def test_the_project_file_is_shaped_like_the_samples_and_declares_the_secret():
    project, _ = parsed()
    assert project.tag == "Graphical_Application_Designer_Project"
    assert {child.tag for child in project} <= PROJECT_ELEMENTS
    assert [(f.get("path"), f.get("type")) for f in project.iter("File")] == [("Main.flow", "callflow")]
    for variable in project.iter("Variable"):
        assert {field.tag for field in variable} <= VARIABLE_FIELDS
    secret = next(project.iter("Variable"))
    assert secret.findtext("Name") == "WarmlineSecret"
    assert secret.findtext("InitialValue") == '"s3cr\\"et\\\\"'  # a CFD string literal, escaped
    assert secret.findtext("DebuggerVisible") == "false"


@pytest.mark.parametrize("attribute", sorted(SAMPLE_LISTS))
def test_the_serialized_lists_are_the_samples_format(attribute):
    _, flow = parsed()
    sample, root_tag, item_tag, fields = SAMPLE_LISTS[attribute]
    values = [element.get(attribute) for _, element in components(flow) if element.get(attribute)]
    assert values, attribute
    for value in values:
        assert value.startswith('<?xml version="1.0" encoding="utf-16"?>'), sample
        root = ET.fromstring(value.split("?>", 1)[1])
        assert root.tag == root_tag and [item.tag for item in root] == [item_tag]
        assert [field.tag for field in root[0]] == fields


def test_every_expression_is_cfd_syntax_over_declared_variables():
    project, flow = parsed()
    variables = declared(project, flow)
    checked = []
    for _, element in components(flow):
        for name in EXPRESSION_ATTRIBUTES & set(element.attrib):
            if element.get(name):  # an empty Condition is the branch that always runs
                check_expression(element.get(name), variables)
                checked.append(element.get(name))
        if element.get("Input"):
            assert element.get("Input") in variables  # the JSON parser reads a variable, not an expression
    for header in ET.fromstring(
        next(e for _, e in components(flow) if e.get("HeaderList")).get("HeaderList").split("?>", 1)[1]
    ):
        check_expression(header.findtext("Value"), variables)
    assert "EQUAL(warmlineIncomingCall.ResponseStatusCode,200)" in checked
    assert (
        'EQUAL(callflow$.route,"agent")' in checked and 'EQUAL(callflow$.route,"agent_callback")' in checked
    )
    assert not any("==" in expression for expression in checked)


def test_the_rest_component_posts_the_caller_with_the_secret_header_and_an_8_s_timeout():
    _, flow = parsed()
    rest = next(e for kind, e in components(flow) if kind == "WebServiceRestComponent")
    assert rest.get("URI") == f'"{SETTINGS.incoming_call_url}"'
    assert (rest.get("HttpRequestType"), rest.get("ContentType"), rest.get("Timeout")) == (
        "POST",
        "application/json",
        "8",
    )
    assert all(f"session.{name}" in rest.get("Content") for name in ("ani", "did", "callid"))
    header = ET.fromstring(rest.get("HeaderList").split("?>", 1)[1])[0]
    assert (header.findtext("Name"), header.findtext("Value")) == (
        "X-Warmline-Secret",
        "project$.WarmlineSecret",
    )
    parser = next(e for kind, e in components(flow) if kind == "JsonXmlParserComponent")
    mapping = ET.fromstring(parser.get("ResponseMappingsList").split("?>", 1)[1])[0]
    assert (mapping.findtext("Path"), mapping.findtext("Variable")) == ("route", "callflow$.route")


def test_every_path_out_of_the_flow_reaches_the_agent_or_frees_the_line_for_its_callback():
    _, flow = parsed()
    transfers = {
        e.get(X_NAME): e.get("Destination") for kind, e in components(flow) if kind == "TransferComponent"
    }
    assert set(transfers) == {
        "transferToAgent",
        "transferOnOtherRoute",
        "transferOnFailedAnswer",
        "transferOnError",
    }
    assert set(transfers.values()) == {'"+441000000001"'}
    error_handler = flow.find("Flows/ErrorHandlerFlow")[0]
    assert [e.get(X_NAME) for e in error_handler] == ["transferOnError"]
