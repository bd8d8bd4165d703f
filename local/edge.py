"""CloudFront + AWS WAF on loopback (EdgeProtection=cloudfront-waf): the web ACL of edge/waf.yaml
evaluated in front of the gateway, and the origin header the distribution adds.

Rules run in priority order until one allows or blocks; a blocked request never reaches API Gateway
(no throttle token, no access-log line). Statements: IP sets, NOT, a header's size, the per-address
rate (a sliding window, acting at once where AWS WAF acts with some delay), and AWS managed rule
groups, which match nothing here (loopback addresses are on no reputation list). Source addresses
are the connection's: a test floods from 127.0.0.2 and up while 3CX calls from 127.0.0.1.
"""

from __future__ import annotations

import collections
import ipaddress
import json
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from local.template import TemplateError, read_yaml

BLOCKED_BODY = {"message": "Forbidden"}  # AWS WAF's own block answers 403
# The template parameters of a stack with the edge; the web ACL's ARN is a stand-in (no WAF here).
EDGE_PARAMETERS = {
    "EdgeProtection": "cloudfront-waf",
    "EdgeWebAclArn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/local/0000-4000-8000-000000000000",
}
NO_VALUE = object()


@dataclass
class _Resolver:
    """The few intrinsic functions edge/waf.yaml uses, against its parameters."""

    parameters: dict[str, Any]
    conditions: dict[str, Any]
    stack_name: str = "local-edge"

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key.startswith("Fn::"):
                return self._intrinsic(key, argument)
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name == "AWS::StackName":
            return self.stack_name
        if name not in self.parameters:
            raise TemplateError(f"edge: !Ref to unknown name {name}")
        return self.parameters[name]

    def _intrinsic(self, name: str, argument: Any) -> Any:
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self.resolve(self.conditions[condition]) else when_false)
        if name == "Fn::Equals":
            left, right = self.resolve(argument)
            return str(left) == str(right)
        if name == "Fn::Not":
            return not self.resolve(argument[0])
        if name == "Fn::Join":
            separator, items = argument
            return separator.join(map(str, self.resolve(items)))
        if name == "Fn::GetAtt":
            return f"local-ipset:{argument[0]}"  # an IP set's Arn names it
        if name == "Fn::Sub":
            return argument.replace("${AWS::StackName}", self.stack_name)
        raise TemplateError(f"edge: intrinsic function {name} is not supported locally")


@dataclass
class WebAcl:
    rules: list[dict[str, Any]]  # in priority order
    ip_sets: dict[str, list[ipaddress.IPv4Network | ipaddress.IPv6Network]]
    seen: dict[tuple[str, str], collections.deque[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_template(cls, path: Path, parameters: dict[str, Any]) -> WebAcl:
        document = read_yaml(path)
        values = {
            name: parameters.get(name, spec.get("Default"))
            for name, spec in (document.get("Parameters") or {}).items()
        }
        for name, spec in (document.get("Parameters") or {}).items():
            if spec.get("Type") == "CommaDelimitedList" and isinstance(values[name], str):
                values[name] = values[name].split(",")
        resolver = _Resolver(values, document.get("Conditions") or {})
        resources = document["Resources"]
        [acl] = [r for r in resources.values() if r["Type"] == "AWS::WAFv2::WebACL"]
        rules = sorted(resolver.resolve(acl["Properties"]["Rules"]), key=lambda rule: int(rule["Priority"]))
        ip_sets = {
            f"local-ipset:{logical_id}": [
                ipaddress.ip_network(a) for a in resolver.resolve(r["Properties"]["Addresses"])
            ]
            for logical_id, r in resources.items()
            if r["Type"] == "AWS::WAFv2::IPSet" and resolver.resolve({"Fn::If": [r["Condition"], 1, 0]})
        }
        return cls(rules, ip_sets)

    def verdict(self, source_ip: str, headers: dict[str, str]) -> tuple[str, int]:
        """("allow", 0), or ("block", the status to answer)."""
        for rule in self.rules:
            if self._matches(rule["Name"], rule["Statement"], source_ip, headers):
                action = rule.get("Action") or {"Allow": {}}  # a managed group's own actions
                if "Block" in action:
                    custom = (action["Block"] or {}).get("CustomResponse") or {}
                    return "block", int(custom.get("ResponseCode", 403))
                if "Allow" in action:
                    return "allow", 0
        return "allow", 0

    def _matches(self, name: str, statement: dict[str, Any], source_ip: str, headers: dict[str, str]) -> bool:
        ((kind, spec),) = statement.items()
        if kind == "NotStatement":
            return not self._matches(name, spec["Statement"], source_ip, headers)
        if kind == "IPSetReferenceStatement":
            address = ipaddress.ip_address(source_ip)
            return any(address in network for network in self.ip_sets.get(spec["Arn"], []))
        if kind == "SizeConstraintStatement":
            value = headers.get(spec["FieldToMatch"]["SingleHeader"]["Name"].lower())
            return value is not None and _compare(len(value), spec["ComparisonOperator"], int(spec["Size"]))
        if kind == "RateBasedStatement":
            return self._over_rate(
                name, source_ip, int(spec["Limit"]), int(spec.get("EvaluationWindowSec", 300))
            )
        if kind == "ManagedRuleGroupStatement":
            return False
        raise TemplateError(f"edge: WAF statement {kind} is not supported locally")

    def _over_rate(self, name: str, source_ip: str, limit: int, window_s: int) -> bool:
        with self.lock:
            now = time.monotonic()
            seen = self.seen.setdefault((name, source_ip), collections.deque())
            seen.append(now)
            while seen and seen[0] <= now - window_s:
                seen.popleft()
            return len(seen) > limit


def _compare(size: int, operator: str, than: int) -> bool:
    return {"EQ": size == than, "NE": size != than, "LE": size <= than, "LT": size < than,
            "GE": size >= than, "GT": size > than}[operator]  # fmt: skip


@dataclass
class Edge:
    """The distribution: its web ACL, and the origin header it sets on what it passes on."""

    web_acl: WebAcl
    origin_header: tuple[str, str]

    def blocked(self, source_ip: str, headers: list[tuple[str, str]]) -> tuple[int, bytes] | None:
        """The status and body of a blocked request, or None when it goes on to the API."""
        lowered = {name.lower(): value for name, value in headers}
        action, status = self.web_acl.verdict(source_ip, lowered)
        return (status, json.dumps(BLOCKED_BODY).encode()) if action == "block" else None

    def forwarded(self, request: Any) -> Any:
        """The request as CloudFront sends it to the origin: its origin header set (any the viewer
        sent under that name replaced)."""
        name, value = self.origin_header
        headers = [(n, v) for n, v in request.headers if n.lower() != name] + [(name, value)]
        return replace(request, headers=headers)


def origin_header_name(template_path: Path) -> str:
    """The header the template's distribution adds to every request it passes on."""
    distribution = read_yaml(template_path)["Resources"]["EdgeDistribution"]
    [origin] = distribution["Properties"]["DistributionConfig"]["Origins"]
    [header] = origin["OriginCustomHeaders"]
    return str(header["HeaderName"]).lower()
