"""Accounts and vehicles on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Connector = Literal["ef", "type_2", "combo_ccs", "chademo", "autre"]


class RegisterIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Annotated[str, msgspec.Meta(max_length=200)]
    first_name: Name
    last_name: Name


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Annotated[str, msgspec.Meta(max_length=200)]


class PasswordResetIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Email


class PasswordResetConfirmIn(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=10, max_length=200)]
    password: Annotated[str, msgspec.Meta(max_length=200)]


class PasswordChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    old_password: Annotated[str, msgspec.Meta(max_length=200)]
    new_password: Annotated[str, msgspec.Meta(max_length=200)]


class UserRead(msgspec.Struct):
    id: UUID
    email: str
    first_name: str | None
    last_name: str | None
    role: str
    created_at: datetime


class ProfileUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    first_name: Name | None = None
    last_name: Name | None = None


class Message(msgspec.Struct):
    detail: str


# From 1 kWh (a two-wheeler's pack; the page's field says the same) to 300 (the largest
# cars'): a battery of 1e-300 kWh would charge in no time at all.
BatteryKwh = Annotated[float, msgspec.Meta(ge=1, le=300)]


class VehicleCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    connectors: Annotated[list[Connector], msgspec.Meta(min_length=1, max_length=5)]
    plate: str | None = None
    battery_kwh: BatteryKwh = 60.0
    max_ac_kw: Annotated[float, msgspec.Meta(ge=0, le=50)] = 11.0
    max_dc_kw: Annotated[float, msgspec.Meta(ge=0, le=500)] = 0.0


class VehicleUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Name | None = None
    connectors: Annotated[list[Connector], msgspec.Meta(min_length=1, max_length=5)] | None = None
    plate: str | None = None
    battery_kwh: BatteryKwh | None = None
    max_ac_kw: Annotated[float, msgspec.Meta(ge=0, le=50)] | None = None
    max_dc_kw: Annotated[float, msgspec.Meta(ge=0, le=500)] | None = None


class VehicleRead(msgspec.Struct):
    id: UUID
    name: str
    plate: str | None
    connectors: list[str]
    battery_kwh: float
    max_ac_kw: float
    max_dc_kw: float
    created_at: datetime
