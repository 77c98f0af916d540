"""Settings from the environment (prefix CURFEW_), built by the app factory, never at import."""

from __future__ import annotations

import os
import re
import socket
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

INSTANCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def default_instance() -> str:
    """This process's name among the controller instances sharing a database: host:pid."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:48] or "host"
    return f"{host}:{os.getpid()}"


PLACEHOLDER_TOKENS = {"changeme", "change-me", "secret", "token", "admin", "password", "test"}


def parse_networks(text: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """`10.0.0.0/8, 2001:db8:ffff::/48` → the networks; ValueError names a bad one."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ip_network(item))
        except ValueError as exc:
            raise ValueError(f"CURFEW_MANAGEMENT_NETWORKS: {item!r}: {exc}") from None
    if not networks:
        raise ValueError("CURFEW_MANAGEMENT_NETWORKS names no network (unset it for no limit)")
    return tuple(networks)


class DeviceAccessSettings(BaseSettings):
    """Where device secrets come from and where devices may be reached (`controller.credentials`).

    Apart from `Settings` so that a store opened without settings (tests, scripts) still reads
    them from the environment, and nothing else.
    """

    model_config = SettingsConfigDict(env_prefix="CURFEW_", extra="ignore")

    credentials_dir: Path | None = Field(
        default=None,
        description="directory of device credentials, one file per name (mode 0600 or stricter)",
    )
    secrets_key_file: Path | None = Field(
        default=None,
        description="key that encrypts inline device secrets at rest (`curfew secrets keygen`)",
    )
    management_networks: str | None = Field(
        default=None,
        description="comma-separated CIDRs devices must be in (unset: no limit)",
    )

    @field_validator("management_networks")
    @classmethod
    def check_networks(cls, value: str | None) -> str | None:
        if value is not None:
            parse_networks(value)
        return value

    @property
    def networks(self) -> tuple[IPv4Network | IPv6Network, ...] | None:
        return None if self.management_networks is None else parse_networks(
            self.management_networks
        )


class Settings(DeviceAccessSettings):
    model_config = SettingsConfigDict(env_prefix="CURFEW_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./curfew.db", description="SQLAlchemy URL of the store"
    )
    admin_token: SecretStr | None = Field(
        default=None, description="bearer token of the admin role (at least 16 characters)"
    )
    tick_seconds: int = Field(default=60, ge=1, le=3600, description="periodic reconcile tick")
    drift_seconds: int = Field(
        default=600, ge=10, le=86400, description="how often a pass reads every device first"
    )
    device_workers: int = Field(default=16, ge=1, le=512, description="devices pushed at once")
    prepare_lead: int = Field(
        default=120,
        ge=0,
        le=3600,
        description="seconds before each transition its pass is prepared: sessions opened, "
        "routers read, cut bodies staged, so the instant carries only the bindings (0: off; "
        "keep it below the routers' idle session timeout)",
    )
    arm_lead: int = Field(
        default=600,
        ge=0,
        le=21600,
        description="seconds before each transition the cuts of routers opted in to device "
        "timing are armed on their own clocks, in a job of its own (never after the prepare; "
        "0: armed with the prepare, and not at all when the prepare is off)",
    )
    device_timeout: float = Field(default=20.0, gt=0, le=600, description="per-session timeout")
    signing_key_file: Path | None = Field(
        default=None, description="Ed25519 private key (PEM) that signs change-log checkpoints"
    )
    checkpoint_every: int = Field(default=100, ge=1, description="sign every N records")
    checkpoint_dir: Path | None = Field(
        default=None, description="directory that receives a copy of every checkpoint"
    )
    checkpoint_webhook: str | None = Field(
        default=None, description="URL that receives every checkpoint as a JSON POST"
    )
    suspension_days: int = Field(
        default=30, ge=1, le=3650, description="term of the suspension an escalation proposes"
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="largest request body the API reads (else 413)"
    )
    max_inventory_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="largest inventory document it imports"
    )
    instance: str = Field(
        default_factory=default_instance,
        description="this instance's name in the change log (default host:pid)",
    )
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    cut_limit: int = Field(
        default=1000, ge=1, description="cuts a pass may push without the NOC's approval"
    )
    cut_growth: float = Field(
        default=5.0,
        ge=1.0,
        le=1000.0,
        description="a pass cutting more than this multiple of the cuts verified around the "
        "same instant the night before waits for the NOC's approval",
    )

    # observability: alerts to a webhook (`controller.alerts`) and the shape of the logs
    alert_webhook: str | None = Field(
        default=None,
        description="URL that receives alerts as Alertmanager-compatible JSON (a list of alerts)",
    )
    alert_failed_passes: int = Field(
        default=3, ge=1, le=1000, description="failed passes in a row before a device alerts"
    )
    alert_late_seconds: int = Field(
        default=300,
        ge=0,
        le=7 * 86400,
        description="seconds a line may stay cut past its window before it alerts",
    )
    alert_repeat_seconds: int = Field(
        default=0,
        ge=0,
        le=7 * 86400,
        description="re-send each open alert after this many seconds (0: once per incident); "
        "set it below Alertmanager's resolve_timeout when the webhook is Alertmanager",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="`curfew serve`'s log lines on stderr: text or JSON lines"
    )

    @field_validator("alert_webhook")
    @classmethod
    def check_webhook(cls, value: str | None) -> str | None:
        if not value:
            return None  # set but empty: no webhook
        if not value.startswith(("http://", "https://")):
            raise ValueError("CURFEW_ALERT_WEBHOOK must be an http:// or https:// URL")
        return value

    @field_validator("instance")
    @classmethod
    def check_instance(cls, value: str) -> str:
        if not INSTANCE_NAME.fullmatch(value):
            raise ValueError("CURFEW_INSTANCE must be 1-64 letters, digits, '.', '_', ':' or '-'")
        return value

    @field_validator("admin_token")
    @classmethod
    def refuse_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value()
        if token.lower() in PLACEHOLDER_TOKENS or len(token) < 16:
            raise ValueError("CURFEW_ADMIN_TOKEN must be a random string of 16+ characters")
        return value
