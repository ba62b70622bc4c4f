"""A lexical check of CEL expressions (access log `matches`), so that an expression Envoy would refuse (and
NACK the whole Listener for) is reported on the EnvoyProxy instead.

It reads tokens the CEL grammar allows (identifiers, numbers, quoted and raw strings and bytes, operators,
brackets) and checks that brackets balance and that the expression is not empty or cut off after an operator.
It does not type-check: a well-formed expression naming an unknown attribute passes here and evaluates to an
error in Envoy, which then does not log the request.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<string>[rRbB]{0,2}
        (?:\"\"\"(?:\\.|[^\\])*?\"\"\"|'''(?:\\.|[^\\])*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
    | (?P<number>(?:0x[0-9a-fA-F]+|\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)[uU]?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<operator>==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,])
    | (?P<open>[(\[{])
    | (?P<close>[)\]}])
    """,
    re.VERBOSE | re.DOTALL,
)
_PAIRS = {")": "(", "]": "[", "}": "{"}
_BINARY_END = frozenset({"==", "!=", "<=", ">=", "&&", "||", "+", "-", "*", "/", "%", "<", ">", "!", "?", ":", "."})


def cel_syntax_problem(expression: str) -> str | None:
    """Why `expression` is not well-formed CEL, or None."""
    if not expression.strip():
        return "the expression is empty"
    stack: list[str] = []
    last = ""
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            return f"unexpected character {expression[position]!r} at offset {position}"
        kind, text = match.lastgroup, match.group()
        position = match.end()
        if kind == "space":
            continue
        if kind == "open":
            stack.append(text)
        elif kind == "close" and (not stack or stack.pop() != _PAIRS[text]):
            return f"unbalanced {text!r} at offset {match.start()}"
        last = text
    if stack:
        return f"unclosed {stack[-1]!r}"
    if last in _BINARY_END:
        return f"the expression ends with {last!r}"
    return None
