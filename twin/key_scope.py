"""What one adapter key may write: its kinds of message and the assets they name.

An allow-list line may narrow what its key writes beyond ``<public key> <name>``::

    <public key> gw-lorawan-1 kinds=bin.fill,device.battery assets=BIN-34114-*,BIN-34239-*

``kinds`` lists wire kinds; ``assets`` lists asset codes, each possibly with shell-style
wildcards (``*``, ``?``, ``[…]``, matched case-sensitively). A line without them may write
anything, as before scopes existed. A stolen or buggy gateway key can then write only what its
gateway serves: the bins of its own communes, not a meter of the town hall. Not responsible for
reading the allow-list file (:mod:`twin.ingest_server`) nor for refusing (:mod:`twin.ingest`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from adapters.wire import KINDS

SCOPE_FIELDS = ("kinds", "assets")


class KeyScopeError(ValueError):
    """An allow-list scope that cannot be read: the message says which part and why."""


@dataclass(frozen=True)
class KeyScope:
    """The kinds and asset patterns a key may write; None for either means any."""

    kinds: frozenset[str] | None = None
    assets: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, fields: list[str]) -> KeyScope:
        """From an allow-list line's words after the name, e.g. ``["kinds=bin.fill"]``."""
        values: dict[str, list[str]] = {}
        for word in fields:
            name, equals, listed = word.partition("=")
            if not equals or name not in SCOPE_FIELDS:
                raise KeyScopeError(
                    f"expected kinds=KIND,… or assets=PATTERN,… after the name, not {word!r}"
                )
            if name in values:
                raise KeyScopeError(f"{name} given twice")
            items = listed.split(",")
            if not all(items):
                raise KeyScopeError(f"{word!r}: an empty item in the {name} list")
            values[name] = items
        unknown = sorted(set(values.get("kinds", [])) - set(KINDS))
        if unknown:
            raise KeyScopeError(
                f"kinds: {unknown[0]!r} is not a wire kind ({', '.join(sorted(KINDS))})"
            )
        kinds = values.get("kinds")
        assets = values.get("assets")
        return cls(
            frozenset(kinds) if kinds is not None else None,
            tuple(assets) if assets is not None else None,
        )

    @property
    def unlimited(self) -> bool:
        """Whether the key may write anything."""
        return self.kinds is None and self.assets is None

    def refusal(self, key_name: str, kind: str, asset: str) -> str | None:
        """Why ``key_name`` may not write ``kind`` about ``asset``; None when it may."""
        if self.kinds is not None and kind not in self.kinds:
            return (
                f"kind: key {key_name!r} may not write {kind!r} "
                f"(its allow-list line permits {', '.join(sorted(self.kinds))})"
            )
        if self.assets is not None and not any(fnmatchcase(asset, p) for p in self.assets):
            return (
                f"asset: key {key_name!r} may not write about {asset!r} "
                f"(its allow-list line permits {', '.join(self.assets)})"
            )
        return None

    def describe(self) -> str:
        """The scope as an allow-list line writes it (empty when unlimited)."""
        words = []
        if self.kinds is not None:
            words.append("kinds=" + ",".join(sorted(self.kinds)))
        if self.assets is not None:
            words.append("assets=" + ",".join(self.assets))
        return " ".join(words)


UNLIMITED = KeyScope()
