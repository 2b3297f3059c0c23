"""The admin API on the wire: users, stations and points, import jobs.

Inputs for edits are partial: a field left out (UNSET) is not touched; a field sent as null
is cleared where the column allows it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, UnsetType

from api.schemas.accounts import Email, Name, VehicleRead

Text = Annotated[str, msgspec.Meta(max_length=2000)]
ShortText = Annotated[str, msgspec.Meta(max_length=255)]
Role = Literal["driver", "admin"]
OperationalStatus = Literal["in_service", "out_of_service"]


class AdminUser(msgspec.Struct):
    id: UUID
    email: str
    first_name: str | None
    last_name: str | None
    role: str
    disabled: bool
    deleted: bool
    created_at: datetime


class UserReservation(msgspec.Struct):
    id: UUID
    status: str
    station_id: UUID
    station_name: str
    id_pdc_itinerance: str
    created_at: datetime
    ended_at: datetime | None
    energy_kwh: float | None


class AdminUserDetail(msgspec.Struct):
    user: AdminUser
    vehicles: list[VehicleRead]
    reservations: list[UserReservation]


class UserPage(msgspec.Struct):
    items: list[AdminUser]
    total: int
    page: int
    per_page: int


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    """An account an admin opens: no password (the admin never knows it); its owner gets a
    link to choose one."""

    email: Email
    first_name: Name | None = None
    last_name: Name | None = None
    role: Role = "driver"


class UserUpdate(msgspec.Struct, forbid_unknown_fields=True):
    role: Role | UnsetType = UNSET
    disabled: bool | UnsetType = UNSET


class StationInput(msgspec.Struct, forbid_unknown_fields=True):
    """IRVE field names, as an import row writes them (same validation rules)."""

    id_station_itinerance: ShortText | UnsetType = UNSET
    nom_station: ShortText | UnsetType = UNSET
    implantation_station: ShortText | UnsetType | None = UNSET
    adresse_station: Text | UnsetType | None = UNSET
    code_insee_commune: ShortText | UnsetType | None = UNSET
    commune: ShortText | UnsetType | None = UNSET
    code_postal: ShortText | UnsetType | None = UNSET
    condition_acces: ShortText | UnsetType | None = UNSET
    horaires: Text | UnsetType | None = UNSET
    accessibilite_pmr: ShortText | UnsetType | None = UNSET
    restriction_gabarit: Text | UnsetType | None = UNSET
    station_deux_roues: bool | UnsetType | None = UNSET
    raccordement: ShortText | UnsetType | None = UNSET
    date_mise_en_service: date | UnsetType | None = UNSET
    nom_amenageur: ShortText | UnsetType | None = UNSET
    nom_operateur: ShortText | UnsetType | None = UNSET
    nom_enseigne: ShortText | UnsetType | None = UNSET
    lon: float | UnsetType = UNSET
    lat: float | UnsetType = UNSET


class PointInput(msgspec.Struct, forbid_unknown_fields=True):
    id_pdc_itinerance: ShortText | UnsetType = UNSET
    puissance_nominale: float | UnsetType = UNSET
    prise_type_ef: bool | UnsetType = UNSET
    prise_type_2: bool | UnsetType = UNSET
    prise_type_combo_ccs: bool | UnsetType = UNSET
    prise_type_chademo: bool | UnsetType = UNSET
    prise_type_autre: bool | UnsetType = UNSET
    gratuit: bool | UnsetType | None = UNSET
    paiement_acte: bool | UnsetType | None = UNSET
    paiement_cb: bool | UnsetType | None = UNSET
    tarification: Text | UnsetType | None = UNSET
    cable_t2_attache: bool | UnsetType | None = UNSET
    reservation: bool | UnsetType | None = UNSET
    operational_status: OperationalStatus | UnsetType = UNSET


class AdminPoint(msgspec.Struct):
    id: UUID
    station_id: UUID
    id_pdc_itinerance: str
    puissance_nominale: float
    prise_type_ef: bool
    prise_type_2: bool
    prise_type_combo_ccs: bool
    prise_type_chademo: bool
    prise_type_autre: bool
    gratuit: bool | None
    paiement_acte: bool | None
    paiement_cb: bool | None
    tarification: str | None
    cable_t2_attache: bool | None
    reservation: bool | None
    operational_status: str
    connector_status: str
    withdrawn: bool
    updated_at: datetime


class AdminStationRow(msgspec.Struct):
    id: UUID
    id_station_itinerance: str
    nom_station: str
    commune: str | None
    code_postal: str | None
    operator: str | None
    points: int
    points_in_service: int
    max_power_kw: float | None
    withdrawn: bool
    lon: float
    lat: float
    updated_at: datetime


class StationPage(msgspec.Struct):
    items: list[AdminStationRow]
    total: int
    page: int
    per_page: int


class AdminStation(msgspec.Struct):
    id: UUID
    id_station_itinerance: str
    nom_station: str
    implantation_station: str | None
    adresse_station: str | None
    code_insee_commune: str | None
    commune: str | None
    code_postal: str | None
    condition_acces: str | None
    horaires: str | None
    is_24_7: bool
    accessibilite_pmr: str | None
    restriction_gabarit: str | None
    station_deux_roues: bool | None
    raccordement: str | None
    date_mise_en_service: date | None
    nom_amenageur: str | None
    nom_operateur: str | None
    nom_enseigne: str | None
    lon: float
    lat: float
    withdrawn: bool
    created_at: datetime
    updated_at: datetime
    points: list[AdminPoint]


class ImportJob(msgspec.Struct):
    id: UUID
    status: str
    phase: str
    source: str
    file_name: str
    file_size: int | None
    full_snapshot: bool
    schema_detected: str | None
    bytes_read: int
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    withdrawn: int
    rejected: int
    duplicates: int
    warnings: int
    rate: float
    eta_s: float | None
    elapsed_s: float
    started_at: datetime
    finished_at: datetime | None
    error: str | None


class ImportPage(msgspec.Struct):
    items: list[ImportJob]
    total: int
    page: int
    per_page: int


class ImportReject(msgspec.Struct):
    line: int
    severity: str
    field: str
    reason: str
    value: str | None
    id_pdc_itinerance: str | None


class RejectPage(msgspec.Struct):
    items: list[ImportReject]
    total: int
    page: int
    per_page: int
