"""schemathesis against /api/v1/openapi.json on a live farmchat: every operation, with a
token, many generated requests (valid and invalid): no 500, and every answer matches the
document (status code, content type, body schema)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from storage import accounts
from tests.web.test_prices_broadcasts import market

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)
EXAMPLES = os.environ.get("FARMCHAT_SCHEMATHESIS_EXAMPLES", "40")


async def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(
    dash, sqlite_only, tmp_path
):
    await market(dash)
    await dash.account("amina", "admin")
    async with dash.svc.db.uow() as uow:
        token = await accounts.new_token(uow, "amina")
        await uow.commit()
    cli = Path(sys.executable).with_name("schemathesis")
    proc = await asyncio.create_subprocess_exec(
        str(cli),
        "run",
        f"{dash.url}/api/v1/openapi.json",
        "--url",
        dash.url,
        "-H",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--max-examples",
        EXAMPLES,
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "20261203",
        "--workers",
        "1",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        cwd=tmp_path,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=600)
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-6000:]
    assert "No issues found" in report or "passed" in report.lower(), report[-3000:]
