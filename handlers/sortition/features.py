"""Self-described features for quotas (e.g. gender): opt-in, given by direct message only.

A feature's allowed values are configured (``sortition.features``); ``undisclosed`` is always one of
them and is what counts for someone who never gave a value. The values are stored only in the bot's
database: never posted in a room, never logged; ``mydata`` exports them and ``forget-me`` erases them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from handlers.matrix.commands import CommandContext, command
from handlers.ports import Clock
from handlers.sortition.stores import FeatureStore
from harmony_matrix.commands import Param, Place
from harmony_matrix.errors import UserError
from harmony_matrix.sortition.arguments import parse_feature_name
from harmony_matrix.sortition.design import UNDISCLOSED


@dataclass(frozen=True)
class SortitionSettings:
    """The ``sortition`` section of the config, as values, plus the bot's default zone."""

    features: Mapping[str, tuple[str, ...]]
    reveal_window: timedelta
    default_term: timedelta
    term_notice: timedelta
    check_interval: timedelta
    alternates: int
    default_tz: str

    def values_of(self, feature: str) -> tuple[str, ...]:
        """The values people may give for ``feature``, ``undisclosed`` last."""
        return tuple(dict.fromkeys([*self.features[feature], UNDISCLOSED]))


class FeatureCommands:
    """``feature set``, ``feature clear`` and ``features``: in a direct chat with the bot only."""

    def __init__(self, *, features: FeatureStore, settings: SortitionSettings, clock: Clock) -> None:
        self.features = features
        self.settings = settings
        self.clock = clock

    def _known(self, name: str, prefix: str) -> str:
        if name not in self.settings.features:
            known = ", ".join(sorted(self.settings.features)) or "none are configured"
            raise UserError(f'There is no feature "{name}" (features: {known}). Send {prefix} features to see them.')
        return name

    @command("feature set", summary="Describe yourself for draws with quotas (private; stays in my database).",
             example="!h feature set gender woman",
             params=(Param("feature", help="e.g. gender", parser=parse_feature_name, max_length=32),
                     Param("value", help="one of the feature's values", max_length=32)),
             place=Place.ENCRYPTED_DIRECT)
    async def set(self, ctx: CommandContext, feature: str, value: str) -> None:
        """Record the sender's value of ``feature``."""
        name = self._known(feature, ctx.prefix)
        allowed: Sequence[str] = self.settings.values_of(name)
        chosen = value.strip().lower()
        if chosen not in allowed:
            raise UserError(f'"{value}" is not a value of {name}; choose one of: {", ".join(allowed)}.')
        await self.features.set(ctx.sender, name, chosen, at=self.clock())
        await ctx.reply(f"Noted privately: your {name} is {chosen}. It is used only to meet the quotas of draws "
                        f"by lot, never posted. {ctx.prefix} feature clear {name} removes it.")

    @command("feature clear", summary="Remove a feature you gave (you then count as undisclosed).",
             example="!h feature clear gender",
             params=(Param("feature", parser=parse_feature_name, max_length=32),), place=Place.ENCRYPTED_DIRECT)
    async def clear(self, ctx: CommandContext, feature: str) -> None:
        """Forget the sender's value of ``feature``."""
        name = self._known(feature, ctx.prefix)
        removed = await self.features.clear(ctx.sender, name)
        await ctx.reply(f"Removed: you now count as {UNDISCLOSED} for {name}." if removed
                        else f"You had not given a {name}; you count as {UNDISCLOSED}.")

    @command("features", summary="The features draws may use, and what you gave (private).",
             example="!h features", place=Place.ENCRYPTED_DIRECT)
    async def show(self, ctx: CommandContext) -> None:
        """List the configured features, their values and the sender's own."""
        if not self.settings.features:
            await ctx.reply("No features are configured for draws on this bot.")
            return
        mine = await self.features.of_user(ctx.sender)
        lines = [f"• {name}: {', '.join(self.settings.values_of(name))} — yours: {mine.get(name, UNDISCLOSED)}"
                 for name in sorted(self.settings.features)]
        await ctx.reply("Features that quotas of draws by lot may use (giving one is up to you):\n"
                        + "\n".join(lines) + f"\nSet one with {ctx.prefix} feature set <feature> <value>.")
