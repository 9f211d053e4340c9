"""Checking a request to Stripe against the parameter types the installed ``stripe`` SDK
declares for it (``stripe.params``: one TypedDict per operation, generated from Stripe's
OpenAPI spec for the SDK's API version).

The fake Stripe decodes the form-encoded body or query string it receives back into nested
dicts and lists (``decode_form``: ``items[0][price]=…`` → ``{"items": [{"price": …}]}``, as
Stripe's own servers read it), then ``params_problems`` walks the value and the TypedDict
together: every key must be declared (an unknown key is a problem, as Stripe answers
"Received unknown parameter"), every required key present, and every value of the declared
type — recursively through nested TypedDicts, lists and maps. On the wire every scalar is a
string, so an ``int`` must read as an integer, a ``bool`` as ``true``/``false``, a
``Literal`` as one of its values; an empty string unsets a parameter, which Stripe allows
only where the type says so (``Literal['']``): ``price=""`` is refused.
"""

import re
import sys
import types
import typing
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin

from stripe._request_options import RequestOptions
from stripe._stripe_object import UntypedStripeObject
from typing_extensions import is_typeddict

# Names some parameter modules import only for type checkers.
_TYPE_CHECKING_ONLY = {"StripeContext": str}
# Options of the SDK's call (API key, version, retries …), not parameters sent to Stripe.
_REQUEST_OPTIONS = frozenset(RequestOptions.__annotations__)
_INT = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


# Decoding ----------------------------------------------------------------------------------

_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")


def decode_form(pairs: list[tuple[str, str]]) -> tuple[dict[str, Any], list[str]]:
    """Nested parameters from form-encoded pairs, and what could not be decoded (a key
    given twice, a key both a value and an object, brackets the SDK never writes)."""
    root: dict[str, Any] = {}
    problems = []
    for key, value in pairs:
        match = _KEY.fullmatch(key)
        if match is None:
            problems.append(f"{key}: not a parameter name")
            continue
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        if "" in parts:
            problems.append(f"{key}: empty brackets (the SDK indexes every list item)")
            continue
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                problems.append(f"{key}: {part} is both a value and an object")
                break
        else:
            if parts[-1] in node:
                problems.append(f"{key}: given twice")
            else:
                node[parts[-1]] = value
    return _lists(root), problems


def _lists(node: Any) -> Any:
    """Objects keyed 0, 1, 2 … are lists."""
    if not isinstance(node, dict):
        return node
    items = {key: _lists(value) for key, value in node.items()}
    if items and set(items) == {str(i) for i in range(len(items))}:
        return [items[str(i)] for i in range(len(items))]
    return items


# Checking ----------------------------------------------------------------------------------


@cache
def _fields(typed_dict: type) -> tuple[dict[str, Any], frozenset[str]]:
    """A TypedDict's declared keys with their types, and the required ones."""
    names = {
        **vars(typing),
        **vars(sys.modules[typed_dict.__module__]),
        **_TYPE_CHECKING_ONLY,
    }
    hints = typing.get_type_hints(typed_dict, globalns=names, include_extras=True)
    if set(hints) >= _REQUEST_OPTIONS:  # a list or retrieve operation: options, not params
        hints = {key: hint for key, hint in hints.items() if key not in _REQUEST_OPTIONS}
    total = getattr(typed_dict, "__total__", True)
    required = frozenset(
        key
        for key, hint in hints.items()
        if get_origin(hint) is Required or (total and get_origin(hint) is not NotRequired)
    )
    return hints, required


def _name(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if path else str(key)


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in get_args(hint))
    if origin is Literal:
        return " or ".join(repr(arg) for arg in get_args(hint))
    if is_typeddict(hint):
        return f"an object ({hint.__name__})"
    if origin is list:
        return "a list"
    if origin is dict or origin is UntypedStripeObject:
        return "a map"
    return getattr(hint, "__name__", repr(hint))


def _scalar_ok(value: Any, hint: Any) -> bool | None:
    """Whether a wire value reads as a scalar type; None when ``hint`` is not one."""
    if hint is Any:
        return True
    if hint is str:
        return isinstance(value, str)
    if hint is int:
        return isinstance(value, str) and _INT.fullmatch(value) is not None
    if hint is float:
        return isinstance(value, str) and _FLOAT.fullmatch(value) is not None
    if hint is bool:
        return value in ("true", "false")
    if hint is Decimal:
        if not isinstance(value, str):
            return False
        try:
            Decimal(value)
        except InvalidOperation:
            return False
        return True
    return None


def _same_shape(value: Any, hint: Any) -> bool:
    """Whether ``value`` is the kind of thing ``hint`` is (an object, a list), so its
    problems are the ones worth naming."""
    origin = get_origin(hint)
    if isinstance(value, dict):
        return is_typeddict(hint) or origin is dict or origin is UntypedStripeObject
    return isinstance(value, list) and origin is list


def _check(value: Any, hint: Any, path: str, problems: list[str]) -> None:
    origin = get_origin(hint)
    args = get_args(hint)
    if origin in (NotRequired, Required, typing.Annotated):
        _check(value, args[0], path, problems)
        return
    if origin in (Union, types.UnionType):
        attempts = []
        for arg in args:
            attempt: list[str] = []
            _check(value, arg, path, attempt)
            if not attempt:
                return
            if _same_shape(value, arg):
                attempts.append(attempt)
        if attempts:  # an object or list of the right shape with wrong insides: say where
            problems.extend(min(attempts, key=len))
        else:
            problems.append(f"{path}: {value!r} is not {_describe(hint)}")
        return
    if origin is Literal:
        allowed = {str(arg).lower() if isinstance(arg, bool) else str(arg) for arg in args}
        if not (isinstance(value, str) and value in allowed):
            problems.append(f"{path}: {value!r} is not {_describe(hint)}")
        return
    if origin is list:
        if not isinstance(value, list):
            problems.append(f"{path}: {value!r} is not a list")
            return
        for index, item in enumerate(value):
            _check(item, args[0], _name(path, index), problems)
        return
    if origin is dict or origin is UntypedStripeObject:
        if not isinstance(value, dict):
            problems.append(f"{path}: {value!r} is not a map")
            return
        for key, item in value.items():
            _check(item, args[-1] if args else Any, _name(path, key), problems)
        return
    if is_typeddict(hint):
        _check_object(value, hint, path, problems)
        return
    if hint is str and value == "":
        problems.append(f"{path}: an empty string unsets a parameter, and this one cannot be unset")
        return
    ok = _scalar_ok(value, hint)
    if ok is None:
        problems.append(f"{path}: the checker does not know the type {hint!r}")
    elif not ok:
        problems.append(f"{path}: {value!r} is not {_describe(hint)}")


def _check_object(value: Any, typed_dict: type, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path}: {value!r} is not {_describe(typed_dict)}")
        return
    hints, required = _fields(typed_dict)
    for key in value:
        if key not in hints:
            problems.append(f"{_name(path, key)}: unknown parameter")
    for key in sorted(required - set(value)):
        problems.append(f"{_name(path, key)}: missing required parameter")
    for key, item in value.items():
        if key in hints:
            _check(item, hints[key], _name(path, key), problems)


def params_problems(params: dict[str, Any], typed_dict: type) -> list[str]:
    """Every way ``params`` (decoded) breaks the SDK's declared ``typed_dict``; empty when
    it is well formed."""
    problems: list[str] = []
    _check_object(params, typed_dict, "", problems)
    return problems
