"""Safe template rendering in the paper's notation: `{name}` is a variable, `{{` and `}}` are braces.

The template is parsed once into literal and variable segments; rendering joins the
segments with the values, so a value is never parsed again: a value holding `{other}` or
`{{` stays literal text (no injection). Values are bounded in length and cleaned of
control characters; single-line variables also lose their line breaks, so a value cannot
start a fake section of the prompt on a new line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xpollinate.errors import XPError

TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DEFAULT_MAX_CHARS = 2000


class TemplateSyntaxError(XPError):
    """A template file holds a brace that is neither `{{`, `}}` nor `{variable}`."""


class PromptVariableError(XPError):
    """Missing, unexpected, mistyped or oversized prompt variables."""


@dataclass(frozen=True)
class Segment:
    """A literal piece of text, or (when `variable` is set) a placeholder."""

    text: str = ""
    variable: str | None = None


def parse(text: str, where: str) -> tuple[Segment, ...]:
    """Split a template into segments; a stray brace is an error naming its line."""
    segments: list[Segment] = []
    pos = 0
    for m in TOKEN.finditer(text):
        if m.start() > pos:
            segments.append(Segment(text[pos : m.start()]))
        token = m.group(0)
        if token in ("{{", "}}"):
            segments.append(Segment(token[0]))
        elif m.group(1):
            segments.append(Segment(variable=m.group(1)))
        else:
            line = text.count("\n", 0, m.start()) + 1
            raise TemplateSyntaxError(
                f"{where}:{line}: stray {token!r}; write {token * 2!r} for a literal brace or {{name}} for a variable"
            )
        pos = m.end()
    if pos < len(text):
        segments.append(Segment(text[pos:]))
    return tuple(segments)


@dataclass(frozen=True)
class VariableSpec:
    """A declared variable: its type, bounds and whether it may span lines."""

    name: str
    description: str = ""
    type: str = "str"
    max_chars: int = DEFAULT_MAX_CHARS
    multiline: bool = False
    min: int | None = None
    max: int | None = None

    def clean(self, value: object, ref: str) -> str:
        """The value as it enters the prompt; an error naming the variable if it cannot."""
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise PromptVariableError(
                    f"{ref}: variable {self.name!r} must be an integer, got {type(value).__name__}"
                )
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                raise PromptVariableError(f"{ref}: variable {self.name!r}={value} is outside [{self.min}, {self.max}]")
            return str(value)
        if not isinstance(value, str):
            raise PromptVariableError(f"{ref}: variable {self.name!r} must be a string, got {type(value).__name__}")
        text = CONTROL.sub(" ", value.replace("\r\n", "\n").replace("\r", "\n"))
        if not self.multiline:
            text = " ".join(text.split())
        text = text.strip()
        if not text:
            raise PromptVariableError(f"{ref}: variable {self.name!r} is empty")
        if len(text) > self.max_chars:
            raise PromptVariableError(
                f"{ref}: variable {self.name!r} is {len(text)} characters long; the limit is {self.max_chars}. Shorten the input."
            )
        return text


def render(segments: tuple[Segment, ...], specs: dict[str, VariableSpec], values: dict[str, object], ref: str) -> str:
    """Fill the placeholders; missing or extra variables are an error naming all of them."""
    missing = sorted(set(specs) - set(values))
    extra = sorted(set(values) - set(specs))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(extra)}")
        raise PromptVariableError(f"{ref}: {'; '.join(parts)} (declared: {', '.join(sorted(specs))})")
    cleaned = {name: spec.clean(values[name], ref) for name, spec in specs.items()}
    return "".join(cleaned[s.variable] if s.variable else s.text for s in segments)
