"""One typed, validated settings object, built in ``main()`` or ``create_app()``, never at import.

Values come from keyword arguments, then ``PARTYMAP_*`` environment variables, then a ``.env``
file. This module imports no other partymap module, so every layer above ``geo`` may take it.
"""

from __future__ import annotations

import math
import os
import zoneinfo
from collections import Counter
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "change-me-in-production"
MIN_SECRET_BYTES = 32
MIN_SECRET_BITS = 80.0
GENERATE_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` cannot sign tokens outside development (None: it can).

    Refused: fewer than 32 bytes; fewer than 80 bits by the frequency of its characters
    (``"a" * 40``); a run of six or more characters that repeats (a phrase typed twice); the
    built-in default in any form. A random ``secrets.token_urlsafe(32)`` (43 characters, about
    208 bits by this estimate) or ``token_hex(32)`` passes; ``token_hex(16)`` is the shortest
    that does (32 characters, about 114 bits).

    >>> secret_problem("s" * 40)
    'it has about 0 bits of entropy (at least 80)'
    >>> secret_problem("change-me-in-production ")
    'it is 24 bytes long (at least 32)'
    >>> secret_problem("partymap-secret!partymap-secret!")
    "it repeats 'partym'"
    >>> secret_problem("Jm8_yq2Xh0cQv7LzR4tWb9NpK1sFd6Ge3aUo5iYxT") is None
    True
    """
    size = len(secret.encode())
    if size < MIN_SECRET_BYTES:
        return f"it is {size} bytes long (at least {MIN_SECRET_BYTES})"
    if DEFAULT_SECRET in secret:
        return "it contains the built-in default"
    counts = Counter(secret)
    bits = sum(n * math.log2(len(secret) / n) for n in counts.values())
    if bits < MIN_SECRET_BITS:
        return f"it has about {bits:.0f} bits of entropy (at least {MIN_SECRET_BITS:.0f})"
    for start in range(len(secret) - 11):
        piece = secret[start : start + 6]
        if piece in secret[start + 6 :]:
            return f"it repeats {piece!r}"
    return None


OrgKindName = Literal["party_committee", "general_branch", "branch", "party_group"]
MeetingKindName = Literal[
    "BRANCH_GENERAL_MEETING",
    "BRANCH_COMMITTEE_MEETING",
    "GROUP_MEETING",
    "PARTY_LECTURE",
    "THEMED_PARTY_DAY",
]


class MeetingRequirement(BaseModel):
    """How many meetings of a kind an organisation of the given kinds must hold per period."""

    model_config = {"extra": "forbid", "frozen": True}

    period: Literal["month", "quarter", "year"]
    count: int = Field(default=1, ge=1, le=31)
    org_kinds: tuple[OrgKindName, ...]


def default_requirements() -> dict[MeetingKindName, MeetingRequirement]:
    """三会一课 as the rules set it: 支部党员大会 and 党课 quarterly, 支委会 monthly (for
    branches), 党小组会 monthly (for party groups). 主题党日 is not required by default."""
    return {
        "BRANCH_GENERAL_MEETING": MeetingRequirement(period="quarter", org_kinds=("branch",)),
        "BRANCH_COMMITTEE_MEETING": MeetingRequirement(period="month", org_kinds=("branch",)),
        "GROUP_MEETING": MeetingRequirement(period="month", org_kinds=("party_group",)),
        "PARTY_LECTURE": MeetingRequirement(period="quarter", org_kinds=("branch",)),
    }


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "partymap"


class Settings(BaseSettings):
    """Everything partymap can be configured with. See the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="PARTYMAP_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Field(default_factory=default_data_dir)
    # None: the embedded SpatiaLite file ``<data_dir>/partymap.sqlite``.
    # Production: ``postgresql+psycopg://user:pass@host/db`` with PostGIS.
    database_url: str | None = None
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    access_token_minutes: int = Field(default=30, gt=0)

    # Map and labels.
    language: Literal["zh-CN", "en"] = "zh-CN"
    tiles: Literal["osm", "tianditu", "amap", "none"] = "osm"
    tianditu_key: SecretStr | None = None

    # HTTP service.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)

    # Positions older than this many days are purged; 0 keeps them forever.
    retention_days: int = Field(default=365, ge=0)

    # HTTP API (api/): login throttling, cookies, ingest and live stream limits.
    # Login attempts allowed per (username, client address) and per client address (successes
    # not counted) in a window; counted in the database, shared by every API process.
    login_max_failures: int = Field(default=5, gt=0)
    login_max_attempts_per_address: int = Field(default=30, gt=0)
    login_window_seconds: float = Field(default=300.0, gt=0)
    # Check-ins a member may attempt a minute (phone and meeting code together), counted in
    # the database like logins: a script trying codes or positions is stopped.
    checkin_max_per_minute: int = Field(default=20, gt=0)
    # Proxies (addresses or networks) whose X-Forwarded-For names the client; from any other
    # peer the header is ignored. Empty: the peer is the client.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    # The session cookie is marked Secure (HTTPS only) unless this says otherwise; None: Secure
    # everywhere but in development, where the map is served over plain http://localhost.
    cookie_secure: bool | None = None
    # Largest NMEA body one POST /api/v1/devices/{uid}/nmea may carry.
    ingest_max_bytes: int = Field(default=1_048_576, gt=0)
    # An SSE comment line this often keeps proxies from closing an idle live stream.
    sse_keepalive_seconds: float = Field(default=15.0, gt=0)
    # An open live stream reads its user again this often and ends when they were deactivated,
    # got a new password, role or organisation.
    sse_recheck_seconds: float = Field(default=2.0, gt=0)

    # Ingestion daemon (partymap serve, partymap replay): sources, micro-batches, write buffer.
    # TCP server for field devices (first line REG,<device_id>,<token>); port None: no server.
    ingest_tcp_host: str = "0.0.0.0"
    ingest_tcp_port: int | None = Field(default=5055, ge=0, le=65535)
    ingest_tcp_idle_timeout_seconds: float = Field(default=120.0, gt=0)
    ingest_tcp_registration_timeout_seconds: float = Field(default=10.0, gt=0)
    ingest_tcp_max_connections: int = Field(default=20_000, gt=0)
    # JT/T 808 server for BeiDou terminals (helmets, badges, vehicle terminals); port None: no
    # server. Its idle and registration timeouts and connection limit are the TCP server's.
    ingest_jt808_host: str = "0.0.0.0"
    ingest_jt808_port: int | None = Field(default=None, ge=0, le=65535)
    # MQTT broker the devices publish to (partymap/devices/<device_id>/nmea), "host:port";
    # None: no MQTT subscription.
    ingest_mqtt_broker: str | None = None
    ingest_mqtt_username: str | None = None
    ingest_mqtt_password: SecretStr | None = None
    # The broker keeps this client's subscription (and queues for it) across reconnects.
    ingest_mqtt_client_id: str = "partymap-ingest"
    # Receivers on this machine: serial ports "<path>=<device_id>[@<baud>]", gpsd daemons
    # "<host>[:<port>]=<device_id>[@<receiver path>]", recorded logs "<file>=<device_id>"
    # (replayed from their last committed offset; paced by their time tags × the speed, or as
    # fast as possible when the speed is None). Lists are JSON in the environment.
    ingest_serial: list[str] = Field(default_factory=list)
    ingest_gpsd: list[str] = Field(default_factory=list)
    ingest_replay: list[str] = Field(default_factory=list)
    ingest_replay_speed: float | None = Field(default=None, gt=0)
    # A micro-batch closes at this many lines, or this long after its first chunk arrived.
    ingest_batch_lines: int = Field(default=20_000, gt=0)
    ingest_batch_bytes: int = Field(default=4_000_000, gt=0)
    ingest_batch_seconds: float = Field(default=0.05, gt=0)
    # Fixes computed but not yet committed (a database outage fills this); when it is full the
    # daemon stops reading its sources until the database is back.
    ingest_buffer_fixes: int = Field(default=200_000, gt=0)
    # Longest wait between two tries of a write that failed (the wait doubles up to it).
    ingest_retry_max_seconds: float = Field(default=5.0, gt=0)
    # How often devices (and their members) and the site set are checked for changes.
    ingest_directory_refresh_seconds: float = Field(default=10.0, gt=0)
    ingest_sites_refresh_seconds: float = Field(default=2.0, gt=0)
    # How often visits of members silent for longer than their site's max_gap are ended.
    ingest_expire_seconds: float = Field(default=5.0, gt=0)
    # Decode NMEA in a process of its own, on another core than the sockets' event loop.
    ingest_decoder_process: bool = True

    # Several machines (partymap serve --role edge|worker|api; docs/deploy.md). The NATS
    # servers (comma-separated nats:// URLs) are required by those roles and unused by `all`.
    nats_url: str | None = None
    # The JetStream stream of raw chunks, its subjects' prefix, its partitions (all data of one
    # member in one partition) and its replicas (3 in the reference topology).
    cluster_stream: str = "PARTYMAP_RAW"
    cluster_subject: str = "partymap"
    cluster_partitions: int = Field(default=32, ge=1, le=4096)
    cluster_replicas: int = Field(default=3, ge=1, le=5)
    # How long the stream keeps raw chunks: a worker restarting later than this loses data.
    cluster_max_age_seconds: float = Field(default=86_400.0, gt=0)
    # A worker's name (default: host and process id); each announces itself this often, and is
    # taken for dead, its partitions shared out, after cluster_worker_timeout_seconds of silence.
    cluster_worker_id: str | None = None
    cluster_heartbeat_seconds: float = Field(default=1.0, gt=0)
    cluster_worker_timeout_seconds: float = Field(default=4.0, gt=0)
    # An edge gathers each partition's chunks into one message until the oldest was received
    # cluster_publish_seconds ago or the message holds cluster_publish_bytes (below NATS's
    # max_payload, 1 MB by default); at most cluster_publish_pending_bytes wait or are in
    # flight before the edge's sources stop reading.
    cluster_publish_seconds: float = Field(default=0.25, gt=0)
    cluster_publish_bytes: int = Field(default=256_000, gt=0, le=900_000)
    cluster_publish_pending_bytes: int = Field(default=16_000_000, gt=0)

    # Electronic map (maps/, GET /map, partymap map, partymap demo).
    # A member at no site whose newest fix is older than this many seconds is drawn as stale.
    map_stale_after_seconds: float = Field(default=600.0, gt=0)
    # The map's overview and tree counts read the whole organisation at most this often:
    # panning and zooming by many users cost one read per period (0: every request).
    map_refresh_seconds: float = Field(default=2.0, ge=0)

    # Meetings (三会一课): the reporting zone (periods of statistics, meetings without a site),
    # when attendance is recorded automatically, how far plans schedule ahead, what each kind
    # of organisation must hold, and when alerts are raised.
    meetings_tz: str = "Asia/Shanghai"
    # A meeting's attendance is recorded this long after its end (late, store-and-forward
    # fixes still count); the recording task looks every meetings_tick_seconds.
    meetings_record_grace_seconds: float = Field(default=900.0, ge=0, le=7 * 86_400)
    meetings_tick_seconds: float = Field(default=30.0, gt=0)
    meetings_plan_horizon_days: int = Field(default=92, ge=1, le=731)
    meetings_required: dict[MeetingKindName, MeetingRequirement] = Field(
        default_factory=default_requirements
    )
    meetings_alert_absent_streak: int = Field(default=3, ge=1, le=100)
    meetings_alert_min_rate: float = Field(default=0.8, ge=0, le=1)

    @field_validator("meetings_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'partymap.sqlite'}"

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Self:
        if self.environment != "development" and (
            problem := secret_problem(self.secret_key.get_secret_value())
        ):
            raise ValueError(
                f"PARTYMAP_SECRET_KEY cannot sign logins with PARTYMAP_ENVIRONMENT="
                f"{self.environment}: {problem}; set a random one, made for example with "
                f"`{GENERATE_SECRET}`"
            )
        if self.tiles == "tianditu" and self.tianditu_key is None:
            raise ValueError("PARTYMAP_TILES=tianditu needs PARTYMAP_TIANDITU_KEY")
        return self
