"""`warmline samples remove` (a caller by number or key, or all of them: the teardown of
docs/deployment.md, section 10) and `samples rekey` (a caller registered under the numbering rule
before libphonenumber's). The rules are warmline.registry's: this module confirms and prints."""

from __future__ import annotations

import re

from warmline.adapters.s3 import sample_key
from warmline.callers import caller_key
from warmline.registry import (
    AlreadyRegistered,
    NotRegistered,
    NoVoiceProvider,
    PinNeeded,
    Registry,
    Rekey,
    earlier_numbers,
)
from warmline.voice_provider import ProviderError
from warmline_cli.console import CliError, NotFound, UsageError, confirm, progress, say, warn
from warmline_cli.samples import Caller, new_pin, registry, resolve_caller, said_withdrawal, withdraw_caller
from warmline_cli.target import Target


def remove(target: Target, raw_caller: str, yes: bool = False) -> int:
    """Withdraw the caller (`remove_caller`), after the operator confirms."""
    return remove_caller(target, resolve_caller(target, raw_caller), yes)


def remove_caller(target: Target, caller: Caller, yes: bool = False) -> int:
    """Withdraw the caller (warmline.registry), after the operator confirms. A caller already
    withdrawn has only their leftover clones at ElevenLabs deleted, without a question; one warmline
    holds nothing of is already removed: that is success (remove is idempotent). Clones ElevenLabs
    could not delete now: exit 1, the withdrawal stands and the sweep deletes them."""
    callers = registry(target)
    holdings = callers.holdings(caller.key)
    if not holdings.empty:
        parts = [] if holdings.withdrawn else ["their profile and PIN"]
        if holdings.versions:
            parts.append(f"{len(holdings.versions)} sample object version(s)")
        what = ", ".join([*parts, "their clones at ElevenLabs"])
        confirm(f"Withdraw {caller.masked} ({caller.key}): delete {what}?", yes)
    left = said_withdrawal(target, caller, callers.withdraw(holdings, target.operator()), holdings.empty)
    if left is not None:
        raise CliError(left)
    return 0


_CALLER_KEY = re.compile(r"ck_[0-9a-f]{32}")


def caller_by_key(target: Target, key: str) -> Caller:
    """A caller named by the key `samples list` shows, for an operator who has no number to give."""
    if not _CALLER_KEY.fullmatch(key):
        raise UsageError(
            f"--key: {key!r} is not a caller key (ck_ and 32 hex digits, as `samples list` shows)"
        )
    profile = registry(target).profile(key)
    return Caller(
        "", key, shown_as=profile.masked_number if profile and profile.masked_number else "(no number)"
    )


def remove_by_key(target: Target, key: str, yes: bool = False) -> int:
    return remove_caller(target, caller_by_key(target, key), yes)


def remove_all(target: Target, yes: bool = False) -> int:
    """Withdraw every caller warmline holds anything of, after one question for all of them: their
    records and samples, and callers withdrawn before whose clones ElevenLabs kept (a delete that
    failed then): no likeness is left behind while the command says there is nothing to remove."""
    keys, unchecked = _every_holder(registry(target))
    callers = [caller_by_key(target, key) for key in keys]
    if not callers:
        if unchecked is not None:
            raise CliError(unchecked)
        say(f"{target.description} holds no caller's samples, profile or clone: nothing to remove")
        return 0
    named = ", ".join(caller.masked for caller in callers[:5]) + (" …" if len(callers) > 5 else "")
    confirm(
        f"Withdraw all {len(callers)} caller(s) of {target.description} ({named}): delete their profiles, "
        "PINs, clones and every version of their samples?",
        yes,
    )
    left = [caller for caller in callers if not withdraw_caller(target, caller)]
    say(f"withdrew {len(callers)} caller(s); `warmline samples list` shows none now")
    if left:
        raise CliError(
            f"ElevenLabs kept the clones of {len(left)} caller(s) for now: their withdrawal stands and the "
            "housekeeping sweep deletes the clones once ElevenLabs answers (or run `samples remove --all` "
            "again)"
        )
    if unchecked is not None:
        raise CliError(unchecked)
    return 0


def _every_holder(callers: Registry) -> tuple[list[str], str | None]:
    """The keys of every caller to withdraw, and why ElevenLabs could not be asked for the clones
    of callers withdrawn before (None: it was)."""
    keys = callers.every_holder()
    try:
        return sorted({*keys, *callers.clone_holders()}), None
    except (ProviderError, NoVoiceProvider) as error:
        reason = f"ElevenLabs: {error.message}" if isinstance(error, ProviderError) else str(error)
        return keys, (
            f"{reason}; so the clones at ElevenLabs of callers withdrawn before were not looked for: "
            "the scheduled voice sweep deletes any once ElevenLabs answers (or run `samples remove --all` "
            "again)"
        )


def rekey(target: Target, raw_caller: str, pin: str | None = None) -> int:
    """Move a caller registered under the old rule to the key the current rule gives their number
    (warmline.registry.Registry.rekey). A caller with a PIN needs `pin` (the same PIN, asked again)."""
    caller = resolve_caller(target, raw_caller)
    secret = target.secret("CallerKeySecret")
    olds = [
        Caller(number, caller_key(number, secret))
        for number in earlier_numbers(raw_caller, target.default_country_code, caller.number)
    ]
    if not olds:
        say(f"{caller.masked} is keyed the same under both rules ({caller.key}): nothing to do")
        return 0
    record = new_pin(target, caller, pin) if pin is not None else None
    request = Rekey(tuple(old.key for old in olds), caller.key, target.operator(), record)
    try:
        moved = registry(target).rekey(
            request, lambda key: progress(f"copying {key} to {sample_key(caller.key, key)}")
        )
    except NotRegistered:
        keys = ", ".join(old.key for old in olds)
        raise NotFound(f"no caller is registered under the old key of {raw_caller!r} ({keys})") from None
    except AlreadyRegistered:
        raise CliError(
            f"{caller.masked} is registered under the current rule too ({caller.key}); "
            f"keep one: `warmline samples remove --caller {caller.number}` removes the current one"
        ) from None
    except PinNeeded:
        raise UsageError(
            f"{caller.masked} has a PIN, which is bound to the old key: run this again with --pin and "
            "type the caller's PIN, so their cloned voice stays behind it"
        ) from None
    say(f"registered {caller.masked} under {caller.key} with the same samples and consent")
    old = next(old for old in olds if old.key == moved.old_key)
    left = said_withdrawal(target, old, moved.withdrawal, held_nothing=False)
    if left is not None:
        warn(left)
    return 0
