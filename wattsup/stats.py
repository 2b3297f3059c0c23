"""Figures an admin checks first (`wattsup stats`)."""

from __future__ import annotations

from typing import Any

from wattsup.config import Settings
from wattsup.db import connect


async def collect_stats(settings: Settings) -> dict[str, Any]:
    conn = await connect(settings)
    try:
        row = await conn.fetchrow(
            """
            SELECT
              (SELECT count(*) FROM stations WHERE withdrawn_at IS NULL) AS stations,
              (SELECT count(*) FROM stations WHERE withdrawn_at IS NOT NULL) AS stations_withdrawn,
              (SELECT count(*) FROM charge_points WHERE withdrawn_at IS NULL) AS charge_points,
              (SELECT count(*) FROM charge_points WHERE withdrawn_at IS NOT NULL)
                  AS charge_points_withdrawn,
              (SELECT count(*) FROM operators) AS operators,
              (SELECT count(*) FROM import_jobs) AS import_jobs,
              (SELECT count(*) FROM import_rejects WHERE severity = 'rejected') AS import_rejects,
              (SELECT data_version FROM app_meta) AS data_version
            """
        )
        by_status = await conn.fetch(
            "SELECT operational_status, count(*) AS n FROM charge_points "
            "WHERE withdrawn_at IS NULL GROUP BY 1 ORDER BY 1"
        )
        last = await conn.fetchrow(
            "SELECT id, file_name, status, started_at, finished_at, rows_read, inserted, updated,"
            " unchanged, withdrawn, rejected FROM import_jobs ORDER BY started_at DESC LIMIT 1"
        )
        out: dict[str, Any] = dict(row) if row else {}
        out["charge_points_by_status"] = {r["operational_status"]: r["n"] for r in by_status}
        out["last_import"] = dict(last) if last else None
        return out
    finally:
        await conn.close()
