"""The configuration model: validated, strict, with one-line errors that name the file and the key.

Loading is pure apart from reading the file; ``load_config(path)`` is what the CLI calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harmony_matrix.federation_peers.peers import Peer, PeerRight, Peers
from harmony_matrix.ids import UserId, looks_like_user_id, server_of

# Values shipped in config.sample.yaml. The bot refuses to start while any of them remains, so that
# nobody runs a bot that points at example.org or holds a placeholder token (see mautrix ForbiddenDefault).
SAMPLE_VALUES: dict[str, Any] = {
    "homeserver.url": "https://matrix.example.org",
    "bot.user_id": "@harmony:example.org",
    "bot.access_token": "CHANGE_ME",
    "bot.password": "CHANGE_ME",
    "admins": ["@you:example.org"],
}

DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql")


class ConfigError(Exception):
    """A configuration problem, rendered as ``file: key: problem`` on one line."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _check_user_id(value: str) -> UserId:
    if not looks_like_user_id(value):
        raise ValueError(f'must be a Matrix user ID like "@name:server" (got "{value}")')
    return UserId(value)


class HomeserverConfig(_Strict):
    """``homeserver``: where the bot's homeserver is."""

    url: str = Field(description="Client-server API base URL of the bot's homeserver.")
    verify_tls: bool = Field(default=True, description="Verify the homeserver's TLS certificate.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f'must start with http:// or https:// (got "{value}")')
        return value.rstrip("/")


class BotConfig(_Strict):
    """``bot``: the bot's account and how it logs in."""

    user_id: UserId = Field(description="The bot's Matrix user ID.")
    access_token: str | None = Field(default=None, description="Access token (preferred).")
    password: str | None = Field(default=None, description="Password, used once to log in.")
    device_name: str = Field(default="harmony-matrix", description="Device display name.")
    display_name: str | None = Field(default=None, description="Display name to set on start.")
    crypto_store: str | None = Field(
        default=None, description="Directory of the end-to-end encryption store (default: next to the database).")
    encrypt_direct_chats: bool = Field(
        default=True, description="Open the direct chats the bot starts itself encrypted, as Element does.")

    @field_validator("user_id")
    @classmethod
    def _user_id(cls, value: str) -> UserId:
        return _check_user_id(value)


def _optional_http_address(value: str | None, *, example: str) -> str | None:
    """An address people or the homeserver reach us at: empty means the default (None); otherwise an
    http(s) address with a host, kept without a trailing slash."""
    if value is None or value == "":
        return None
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        raise ValueError(f'must be an http(s) address like "{example}" (got "{value}")')
    return value.rstrip("/")


class AppserviceConfig(_Strict):
    """``appservice``: how the homeserver reaches the bot in ``mode: appservice``."""

    id: str = Field(default="harmony-matrix", min_length=1, max_length=255,
                    description="The appservice's ID in the registration file.")
    registration: str = Field(
        default="appservice-registration.yaml", min_length=1,
        description="The registration file (relative to this file): written by `harmony-matrix appservice-registration`, "
                    "which keeps its tokens; the bot reads its tokens from it.")
    bind: str = Field(default="127.0.0.1", min_length=1, description="Address the appservice listens on.")
    port: int = Field(default=9009, ge=1, le=65535, description="Port the appservice listens on.")
    url: str | None = Field(
        default=None, description="The address the homeserver reaches the bot at (default http://<bind>:<port>).")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _optional_http_address(value, example="http://127.0.0.1:9009")

    @property
    def public_url(self) -> str:
        """Where the homeserver sends transactions."""
        return self.url or f"http://{self.bind}:{self.port}"


class DatabaseConfig(_Strict):
    """``database``: where the bot keeps its state."""

    url: str = Field(default="sqlite://harmony.db", description="sqlite:// or postgres:// URL.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in DATABASE_SCHEMES:
            raise ValueError(
                f'must start with one of {", ".join(s + "://" for s in DATABASE_SCHEMES)} (got "{value}")'
            )
        if not rest or (scheme != "sqlite" and "/" not in rest):
            raise ValueError(f'names no database (got "{value}")')
        return value


class CommandsConfig(_Strict):
    """``commands``: the prefixes the bot answers to."""

    prefix: str = Field(default="!harmony", description="Command prefix.")
    aliases: list[str] = Field(default_factory=lambda: ["!h"], description="Other prefixes.")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or " " in value:
            raise ValueError(f'must be one word without spaces (got "{value}")')
        return value


class SyncConfig(_Strict):
    """``sync``: how the bot long-polls the homeserver."""

    timeout_ms: int = Field(default=30000, ge=0, le=120000, description="Long-poll timeout.")
    timeline_limit: int = Field(default=100, ge=10, le=1000, description="Events per room per sync.")
    max_rate_limit_retries: int = Field(default=5, ge=0, le=100, description="429 retries per request.")
    full_state_at_start: bool = Field(
        default=False, description="Whether the first /sync after a restart asks for every joined room's whole "
        "state (false: only what changed while the bot was down; rooms are read when first needed).")


class LoggingConfig(_Strict):
    """``logging``: how much the bot logs."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log level.")


def _duration_seconds(value: Any) -> float:
    """A duration in config: seconds as a number, or text like ``24h``, ``1h30m``, ``90m``, ``45s``."""
    from datetime import timedelta

    from harmony_matrix.errors import UserError
    from harmony_matrix.when import parse_duration

    if isinstance(value, bool):
        raise ValueError(f"must be a duration like 24h or 90m (got {value!r})")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+\s*s\s*", value):
        seconds = float(value.strip()[:-1])
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value).total_seconds()
        except UserError:
            raise ValueError(f'must be a duration like 24h, 90m or 45s (got "{value}")') from None
    else:
        raise ValueError(f"must be a duration like 24h or 90m (got {value!r})")
    if seconds <= 0 or seconds > timedelta(days=3660).total_seconds():
        raise ValueError(f"must be a positive duration (got {value!r})")
    return seconds


def _share(value: Any) -> float:
    """A share in config: ``75%`` or ``0.75``."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            value = float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f'must be a share like 75% or 0.75 (got "{value}")') from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"must be a share like 75% or 0.75, above 0 and at most 100% (got {value!r})")
    return float(value)


class SenseConfig(_Strict):
    """``consensus.sense``: how a consensus check is read (shares of the members taking a side)."""

    broad_approval: float = Field(default=0.75, description="Share of members taking a side who must agree.")
    broad_disagreement: float = Field(default=0.5, description="Share of members taking a side who disagree.")
    min_members: int = Field(default=3, ge=1, le=100000, description="Members who must take a stance for a reading.")

    @field_validator("broad_approval", "broad_disagreement", mode="before")
    @classmethod
    def _shares(cls, value: Any) -> float:
        return _share(value)


class AssemblyRulesConfig(_Strict):
    """``consensus.assembly_rules.<slug>``: one assembly's own thresholds and quorum (unset: the defaults)."""

    broad_approval: float | None = Field(default=None, description="As consensus.sense.broad_approval.")
    broad_disagreement: float | None = Field(default=None, description="As consensus.sense.broad_disagreement.")
    min_members: int | None = Field(default=None, ge=1, le=100000, description="As consensus.sense.min_members.")
    quorum: int | None = Field(default=None, ge=0, le=100000, description="As consensus.quorum.")

    @field_validator("broad_approval", "broad_disagreement", mode="before")
    @classmethod
    def _shares(cls, value: Any) -> float | None:
        return None if value is None else _share(value)


#: Office names every assembly has (``harmony_matrix.consensus.offices``): not for ``party_offices``.
_BUILT_IN_OFFICES = ("secretary", "deputy", "seat")


class PartyOfficeConfig(_Strict):
    """One entry of ``consensus.party_offices``: a Party Secretary's office of the party-wide body."""

    name: str = Field(description="What people type, e.g. treasurer (lowercase letters, digits, hyphens).")
    title: str = Field(description="What is shown, e.g. Treasurer.")
    filled: Literal["elected", "appointed"] = Field(
        default="elected", description="Elected (races, STAR ballots) or appointed by the secretaries.")
    seats: int = Field(default=1, ge=1, le=50, description="How many hold it at once.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", value):
            raise ValueError(f"must be 1 to 16 lowercase letters, digits or hyphens, starting with a letter (got {value!r})")
        if value in _BUILT_IN_OFFICES:
            raise ValueError(f"{value} is an office every assembly has already")
        return value

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip() or len(value) > 60:
            raise ValueError("must be 1 to 60 characters")
        return value.strip()


class ConsensusConfig(_Strict):
    """``consensus``: proposals, moots, roles and elections."""

    reminders_before: list[float] = Field(
        default_factory=lambda: [24 * 3600.0, 3600.0],
        description="How long before a moot the reminders go out (24h, 1h; seconds as numbers).")
    end_grace: float = Field(default=3600.0, description="How long after a moot's end a late end notice is still sent.")
    check_interval: float = Field(default=30.0, description="How often (seconds) due notices are checked besides their timers.")
    petition_threshold: int = Field(default=5, ge=1, le=100000,
                                    description="Signatures that start a re-election.")
    term_notice: float = Field(default=14 * 86400.0, description="How long before a term ends it is reminded.")
    default_moot_duration: float = Field(default=3600.0, description="A moot's length when duration= is not given.")
    ballot_duration: float = Field(default=7 * 86400.0, description="How long a deadlock or election ballot stays open.")
    elected_term: float = Field(default=365 * 86400.0, description="How long a term won by election lasts.")
    sense: SenseConfig = Field(default_factory=SenseConfig, description="How consensus checks are read.")
    quorum: int = Field(default=0, ge=0, le=100000,
                        description="Attendees a moot needs for its decisions to stand unmarked (0: no rule).")
    assembly_rules: dict[str, AssemblyRulesConfig] = Field(
        default_factory=dict, description="Per assembly (by slug): its own check thresholds and quorum.")
    minutes_copies: dict[str, list[str]] = Field(
        default_factory=dict, description="Per assembly (by slug): assemblies whose rooms also get its minutes.")
    action_reminder_before: float = Field(default=86400.0, description="How long before an action is due its owner is reminded.")
    party_offices: list[PartyOfficeConfig] = Field(
        default_factory=lambda: [PartyOfficeConfig(name="treasurer", title="Treasurer", filled="appointed")],
        description="The Party Secretaries' offices of the party-wide body besides its secretary and deputies.")
    min_members_to_elect: int = Field(
        default=4, ge=0, le=100000,
        description="Members an assembly should have before it elects a secretary (a warning, not a refusal).")

    @field_validator("party_offices")
    @classmethod
    def _distinct_offices(cls, value: list[PartyOfficeConfig]) -> list[PartyOfficeConfig]:
        names = [office.name for office in value]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"office {repeated[0]} is listed twice")
        return value

    @field_validator("reminders_before", mode="before")
    @classmethod
    def _reminders(cls, value: Any) -> list[float]:
        if not isinstance(value, list):
            raise ValueError("must be a list of durations like [24h, 1h]")
        return [_duration_seconds(v) for v in value]

    @field_validator("end_grace", "term_notice", "default_moot_duration", "ballot_duration", "elected_term",
                     "action_reminder_before", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return _duration_seconds(value)

    @model_validator(mode="after")
    def _thresholds(self) -> ConsensusConfig:
        # Broad approval and broad disagreement must not both hold at once, here or in any assembly.
        for where, own in [("sense", None), *((f"assembly_rules.{slug}", rules)
                                             for slug, rules in self.assembly_rules.items())]:
            approval = own.broad_approval if own and own.broad_approval is not None else self.sense.broad_approval
            disagreement = (own.broad_disagreement if own and own.broad_disagreement is not None
                            else self.sense.broad_disagreement)
            if approval + disagreement <= 1:
                raise ValueError(f"{where}: broad_approval and broad_disagreement must add up to more than 100%, "
                                 "or both could hold at once")
        return self

    @field_validator("check_interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> float:
        seconds = _duration_seconds(value)
        if seconds > 3600:
            raise ValueError(f"must be at most 1h (got {value!r})")
        return seconds


class AssembliesConfig(_Strict):
    """``assemblies``: enforcement of who may be in an assembly's rooms."""

    enforcement: Literal["remove", "warn-then-remove"] = Field(
        default="remove", description="What happens to someone found in a room without meeting its rule.")
    warning_grace_hours: float = Field(
        default=24, ge=0, le=24 * 90, description="Hours between the warning and the removal.")
    sweep_minutes: float = Field(
        default=10, gt=0, le=24 * 60, description="How often everyone in every room is re-checked.")


class PollsConfig(_Strict):
    """``polls``: STAR polls."""

    seed_reactions: bool = Field(default=True, description="Pre-seed 0️⃣–5️⃣ on every option so voting is one click.")
    chart: bool = Field(default=True, description="Post a chart image with the results.")
    default_eligibility: Literal["members", "participants"] = Field(
        default="members", description="Who may vote when a poll does not say eligibility=.")


class PrivacyConfig(_Strict):
    """``privacy``: where the commands that carry special-category data may run."""

    private_commands_need_encryption: bool = Field(
        default=True,
        description="Run mydata, confirm, member add/remove and the sortition features only in an end-to-end "
                    "encrypted direct chat. Turn off only on a homeserver where encrypted direct chats cannot work.")


class WebConfig(_Strict):
    """``web``: the public, read-only web view (off unless ``enabled``)."""

    enabled: bool = Field(default=False, description="Serve the public web view.")
    bind: str = Field(default="127.0.0.1", min_length=1, description="Address the web server listens on.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port the web server listens on.")
    base_url: str | None = Field(
        default=None, description="Public address of the web view, used in links (default http://<bind>:<port>).")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return _optional_http_address(value, example="https://harmony.example.org")


class PeerConfig(_Strict):
    """One entry of ``federation.peers``: another harmony-matrix instance this one trusts."""

    user_id: UserId = Field(description="The peer bot's Matrix user ID (its server hosts the peer's spaces).")
    may: list[PeerRight] = Field(
        default_factory=list,
        description="What it may do here: nest (its assemblies under ours without a secretary's approval), "
                    "decisions (its published decisions count here), eligibility (ask yes/no about membership), "
                    "delegates (seat its delegates in our umbrellas).")
    delegate_seats: int = Field(
        default=1, ge=0, le=100,
        description="With the delegates right: how many delegates each of its assemblies nested in one of our "
                    "umbrellas may seat there; one more is refused with the reason.")

    @field_validator("user_id")
    @classmethod
    def _user(cls, value: str) -> UserId:
        return _check_user_id(value)


class FederationConfig(_Strict):
    """``federation``: the peer instances this one federates with (docs/FEDERATION.md)."""

    peers: list[PeerConfig] = Field(default_factory=list, description="The peer instances this one trusts.")

    @field_validator("peers")
    @classmethod
    def _distinct_peers(cls, value: list[PeerConfig]) -> list[PeerConfig]:
        users = [peer.user_id for peer in value]
        if len(set(users)) != len(users):
            raise ValueError("names a peer twice")
        servers = [server_of(user) for user in users]
        if len(set(servers)) != len(servers):
            raise ValueError("names two peers on the same server (a server's spaces have one host bot)")
        return value

    def peer_directory(self) -> Peers:
        """The peers as the core's ``Peers``."""
        return Peers(Peer(user_id=p.user_id, rights=frozenset(p.may), delegate_seats=p.delegate_seats)
                     for p in self.peers)


class FeatureConfig(_Strict):
    """One entry of ``sortition.features``: a self-described feature quotas may use, and its values."""

    name: str = Field(description="The feature's name, e.g. gender.")
    values: list[str] = Field(description="The values people may give; undisclosed is always added.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _feature_word(value)

    @field_validator("values")
    @classmethod
    def _values(cls, value: list[str]) -> list[str]:
        words = [_feature_word(v) for v in value]
        if not words or len(set(words)) != len(words):
            raise ValueError("must list distinct values, e.g. [woman, man, nonbinary]")
        return words


def _feature_word(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?", value):
        raise ValueError(f'must be lowercase letters, digits and inner hyphens, at most 32 (got "{value}")')
    return value


class SortitionConfig(_Strict):
    """``sortition``: draws by lot, their seats and the features their quotas use."""

    features: list[FeatureConfig] = Field(
        default_factory=lambda: [FeatureConfig(name="gender", values=["woman", "man", "nonbinary"])],
        description="Self-described features people may give by DM for quotas.")
    reveal_window: float = Field(default=48 * 3600.0, description="How long witnesses have to reveal after the freeze.")
    default_term: float = Field(default=365 * 86400.0, description="How long the drawn sit when term= is not given.")
    term_notice: float = Field(default=14 * 86400.0, description="How long before a term ends it is reminded.")
    check_interval: float = Field(default=30.0, description="How often deadlines and term ends are checked.")
    alternates: int = Field(default=2, ge=0, le=100, description="Alternates kept per type when alternates= is not given.")

    @field_validator("features")
    @classmethod
    def _distinct(cls, value: list[FeatureConfig]) -> list[FeatureConfig]:
        names = [feature.name for feature in value]
        if len(set(names)) != len(names):
            raise ValueError("names a feature twice")
        if "branch" in names or "assembly" in names:
            raise ValueError("branch and assembly are categories of their own, not features")
        return value

    @field_validator("reveal_window", "default_term", "term_notice", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return _duration_seconds(value)

    @field_validator("check_interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> float:
        seconds = _duration_seconds(value)
        if seconds > 3600:
            raise ValueError(f"must be at most 1h (got {value!r})")
        return seconds


class Config(_Strict):
    """The whole configuration file."""

    homeserver: HomeserverConfig
    bot: BotConfig
    mode: Literal["bot", "appservice"] = Field(
        default="bot", description="bot: log in and follow rooms with /sync; appservice: the homeserver pushes events.")
    appservice: AppserviceConfig = Field(default_factory=AppserviceConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    commands: CommandsConfig = Field(default_factory=CommandsConfig)
    admins: list[UserId] = Field(default_factory=list, description="Users who administer the registry.")
    timezone: str = Field(default="UTC", description="Default time zone of assemblies.")
    sync: SyncConfig = Field(default_factory=SyncConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    assemblies: AssembliesConfig = Field(default_factory=AssembliesConfig)
    consensus: ConsensusConfig = Field(default_factory=ConsensusConfig)
    polls: PollsConfig = Field(default_factory=PollsConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    sortition: SortitionConfig = Field(default_factory=SortitionConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    federation: FederationConfig = Field(default_factory=FederationConfig)
    # Filled in by the loader so relative paths (e.g. sqlite files) resolve next to the config file.
    base_dir: str = Field(default=".", exclude=True, description="(internal) directory of the file.")

    @field_validator("admins")
    @classmethod
    def _admins(cls, value: list[str]) -> list[UserId]:
        return [_check_user_id(user) for user in value]

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f'is not a known time zone like "Europe/London" (got "{value}")') from None
        return value

    @property
    def prefixes(self) -> tuple[str, ...]:
        """Every prefix the bot answers to."""
        return (self.commands.prefix, *self.commands.aliases)

    @property
    def display_prefix(self) -> str:
        """The prefix shown in messages that answer no command (a reply uses the prefix the person
        typed): the first alias, the short one people type, else the prefix."""
        return self.commands.aliases[0] if self.commands.aliases else self.commands.prefix

    @property
    def tz(self) -> ZoneInfo:
        """The default time zone of assemblies."""
        return ZoneInfo(self.timezone)

    def database_url(self) -> str:
        """The database URL with a relative SQLite path resolved against the config's directory."""
        url = self.database.url
        if url.startswith("sqlite://") and not url.startswith("sqlite:///") and url != "sqlite://:memory:":
            return "sqlite://" + str((Path(self.base_dir) / url[len("sqlite://") :]).resolve())
        return url

    def registration_path(self) -> Path:
        """The appservice registration file, resolved against the config's directory."""
        return (Path(self.base_dir) / self.appservice.registration).resolve()

    def crypto_store_path(self) -> Path:
        """The directory of the bot's end-to-end encryption store (its device keys and Olm/Megolm sessions).

        ``bot.crypto_store`` resolved against the config's directory; by default ``<database>-crypto``
        next to a SQLite database file, or ``harmony-crypto`` next to the config file for PostgreSQL (and
        an in-memory database). It belongs with the database: back them up and restore them together."""
        if self.bot.crypto_store:
            return (Path(self.base_dir) / self.bot.crypto_store).resolve()
        url = self.database_url()
        if url.startswith("sqlite://") and url != "sqlite://:memory:":
            database = Path(url[len("sqlite://"):])
            return database.with_name(f"{database.stem}-crypto")
        return (Path(self.base_dir) / "harmony-crypto").resolve()


def _error_key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if not str(part).startswith("function-after"))


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known key"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{message[0].lower()}{message[1:]} (got {error.get('input')!r})"
    return message


def parse_config(data: Any, *, source: str) -> Config:
    """Validate already-parsed YAML data; raise ConfigError for the first problem."""
    if not isinstance(data, dict):
        raise ConfigError(source, "", "must be a YAML mapping of keys to values")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        first = sorted(exc.errors(), key=lambda e: _error_key(e["loc"]))[0]
        raise ConfigError(source, _error_key(first["loc"]), _describe(first)) from None
    _refuse_sample_values(config, source)
    if config.mode == "bot" and not config.bot.access_token and not config.bot.password:
        raise ConfigError(source, "bot", "needs access_token or password (or mode: appservice)")
    return config


def _refuse_sample_values(config: Config, source: str) -> None:
    values = {
        "homeserver.url": config.homeserver.url,
        "bot.user_id": config.bot.user_id,
        "bot.access_token": config.bot.access_token,
        "bot.password": config.bot.password,
    }
    for key, value in values.items():
        if value is not None and value == SAMPLE_VALUES[key]:
            raise ConfigError(source, key, f'still has the sample value "{value}"; set your own')
    for user in config.admins:
        if user in SAMPLE_VALUES["admins"]:
            raise ConfigError(source, "admins", f'still lists the sample user "{user}"; set your own')


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML config file. Every failure is a one-line ConfigError."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", f"cannot be read ({exc.__class__.__name__}: {exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, "", f"{where}invalid YAML ({problem})") from None
    if isinstance(data, dict):
        data = {**data, "base_dir": str(path.resolve().parent)}
    return parse_config(data, source=source)


def config_keys(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """Every dotted key of the model (used to keep config.sample.yaml in step)."""
    keys: list[str] = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        dotted = f"{prefix}{name}"
        keys.append(dotted)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(config_keys(annotation, dotted + "."))
    return keys
