"""The prompt registry: versioned template files, their content hashes, rendering and diffs.

Each version is a pair of files under `templates/`: `NAME@vN.txt` (the text, in the
paper's `{variable}` notation) and `NAME@vN.toml` (description, source, declared
variables, the output model, a token budget). A version is immutable: a change of text
is a new file `NAME@vN+1`. `hashes.json` stores the SHA-256 of every version's text; a
test compares it with the files, so an edit in place fails the suite.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pydantic import BaseModel

from xpollinate.errors import XPError
from xpollinate.prompts.render import Segment, VariableSpec, parse, render
from xpollinate.prompts.schemas import OUTPUT_MODELS

TEMPLATES_DIR = Path(__file__).parent / "templates"
LOCK_FILE = TEMPLATES_DIR / "hashes.json"
REF = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)(?:@(?P<version>v[1-9][0-9]*))?$")


class PromptNotFoundError(XPError):
    """A prompt name or version that the registry does not hold."""


class PromptDeclarationError(XPError):
    """A template and its declaration disagree (undeclared or unused variables, bad fields)."""


@dataclass(frozen=True)
class PromptTemplate:
    """One immutable version of a prompt."""

    name: str
    version: str
    text: str
    sha256: str
    description: str
    source: str
    output: str | None
    max_tokens: int
    variables: dict[str, VariableSpec] = field(repr=False)
    segments: tuple[Segment, ...] = field(repr=False)
    examples: tuple[str, ...] = field(default=(), repr=False)  # items the prompt's examples recommend (copy detection)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    @property
    def number(self) -> int:
        return int(self.version[1:])

    @property
    def output_model(self) -> type[BaseModel] | None:
        """The pydantic model this version's output format describes, if it declares one."""
        return OUTPUT_MODELS[self.output] if self.output else None

    def render(self, values: dict[str, object]) -> RenderedPrompt:
        return RenderedPrompt(self, render(self.segments, self.variables, values, self.ref))


@dataclass(frozen=True)
class RenderedPrompt:
    """A template filled with values: what is sent to the model (and hashed into cache keys)."""

    template: PromptTemplate
    text: str


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_template(txt: Path) -> PromptTemplate:
    """Read one version (text + declaration) and check they agree."""
    name, _, version = txt.stem.partition("@")
    where = txt.name
    decl_path = txt.with_suffix(".toml")
    if not REF.match(txt.stem) or not version:
        raise PromptDeclarationError(f"{where}: file names must look like name@v1.txt")
    if not decl_path.is_file():
        raise PromptDeclarationError(f"{where}: its declaration {decl_path.name} is missing")
    text = txt.read_text(encoding="utf-8")
    decl = tomllib.loads(decl_path.read_text(encoding="utf-8"))
    segments = parse(text, where)
    used = {s.variable for s in segments if s.variable}
    declared = decl.get("variables", {})
    if used != set(declared):
        raise PromptDeclarationError(
            f"{where}: variables used {sorted(used)} but declared {sorted(declared)} in {decl_path.name}"
        )
    output = decl.get("output")
    if output is not None and output not in OUTPUT_MODELS:
        raise PromptDeclarationError(
            f"{decl_path.name}: unknown output model {output!r}; known: {', '.join(OUTPUT_MODELS)}"
        )
    try:
        specs = {n: VariableSpec(name=n, **spec) for n, spec in declared.items()}
    except TypeError as exc:
        raise PromptDeclarationError(f"{decl_path.name}: {exc}") from exc
    return PromptTemplate(
        name=name,
        version=version,
        text=text,
        sha256=text_hash(text),
        description=decl.get("description", ""),
        source=decl.get("source", ""),
        output=output,
        max_tokens=int(decl.get("max_tokens", 512)),
        variables=specs,
        segments=segments,
        examples=tuple(str(e) for e in decl.get("examples", ())),
    )


class PromptRegistry:
    """All versions of all prompts in a templates folder."""

    def __init__(self, root: Path = TEMPLATES_DIR) -> None:
        self.root = root
        self._by_ref: dict[str, PromptTemplate] = {}
        for txt in sorted(root.glob("*@v*.txt")):
            t = load_template(txt)
            self._by_ref[t.ref] = t

    def names(self) -> list[str]:
        return sorted({t.name for t in self._by_ref.values()})

    def versions(self, name: str) -> list[PromptTemplate]:
        """Every version of `name`, oldest first."""
        found = sorted((t for t in self._by_ref.values() if t.name == name), key=lambda t: t.number)
        if not found:
            raise PromptNotFoundError(f"unknown prompt {name!r}; known: {', '.join(self.names())}")
        return found

    def all(self) -> list[PromptTemplate]:
        return [t for n in self.names() for t in self.versions(n)]

    def get(self, ref: str) -> PromptTemplate:
        """`name@vN`, or `name` for its latest version."""
        m = REF.match(ref.strip())
        if not m:
            raise PromptNotFoundError(f"bad prompt reference {ref!r}; expected name@vN such as theme@v2")
        versions = self.versions(m["name"])
        if m["version"] is None:
            return versions[-1]
        for t in versions:
            if t.version == m["version"]:
                return t
        raise PromptNotFoundError(f"unknown version {ref!r}; {m['name']} has {', '.join(t.ref for t in versions)}")

    def render(self, ref: str, values: dict[str, object]) -> RenderedPrompt:
        return self.get(ref).render(values)

    def diff(self, a: str, b: str) -> str:
        """A unified diff between two versions' texts."""
        ta, tb = self.get(a), self.get(b)
        lines = difflib.unified_diff(
            ta.text.splitlines(keepends=True), tb.text.splitlines(keepends=True), fromfile=ta.ref, tofile=tb.ref
        )
        return "".join(lines)

    def locked_hashes(self) -> dict[str, str]:
        if not (self.root / LOCK_FILE.name).is_file():
            return {}
        return json.loads((self.root / LOCK_FILE.name).read_text(encoding="utf-8"))

    def lock_problems(self) -> list[str]:
        """Versions edited in place, removed, or not yet recorded in hashes.json."""
        locked = self.locked_hashes()
        problems = []
        for ref, digest in sorted(locked.items()):
            t = self._by_ref.get(ref)
            if t is None:
                problems.append(f"{ref}: recorded in hashes.json but its file is gone (versions are never removed)")
            elif t.sha256 != digest:
                problems.append(
                    f"{ref}: text changed after release (hash {t.short_hash}, recorded {digest[:12]}); "
                    f"restore it and add the change as {t.name}@v{self.versions(t.name)[-1].number + 1}"
                )
        for ref in sorted(set(self._by_ref) - set(locked)):
            problems.append(f"{ref}: not recorded in hashes.json; run `xp prompts lock` to record new versions")
        return problems

    def lock_new_versions(self) -> list[str]:
        """Record the hashes of versions not yet in hashes.json (never rewrites a recorded one)."""
        locked = self.locked_hashes()
        added = [ref for ref in sorted(self._by_ref) if ref not in locked]
        for ref in added:
            locked[ref] = self._by_ref[ref].sha256
        (self.root / LOCK_FILE.name).write_text(
            json.dumps(dict(sorted(locked.items())), indent=2) + "\n", encoding="utf-8"
        )
        return added


@cache
def default_registry() -> PromptRegistry:
    """The registry of the templates shipped with the package (loaded once per process)."""
    return PromptRegistry()
