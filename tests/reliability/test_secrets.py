"""Secrets: every command at DEBUG, with known tokens, passwords and a private key, and none of them leaks.

Each CRM's sandbox credentials are known strings; Salesforce logs in with the JWT bearer flow and a freshly
generated RSA key; every other secret setting (OAuth client secrets, refresh tokens, the alert webhook) is
set too, so the redactor has them all.  The commands run as ``leadsync`` subprocesses with ``--log-level
DEBUG`` and a log file, including failures that print the CRM's answer (a wrong token, a misspelt secret
variable).  Then stdout, stderr, the log file, the state database (raw bytes of the file and its WAL, and
the zlib-compressed scoring inputs decompressed), the dry-run CSVs and the calibration reports are searched
for every secret, for any JWT, and for the private key.  The state and log files are readable by their
owner only.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import stat
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.sandbox.hubspot import SANDBOX_CREDENTIALS as HUBSPOT
from connectors.sandbox.pipedrive import SANDBOX_CREDENTIALS as PIPEDRIVE
from connectors.sandbox.salesforce import SANDBOX_CREDENTIALS as SALESFORCE
from sync.demo import sandbox_env_file
from sync.state import RunKind, open_store
from tests.harnesses import CRMS
from tests.reliability.helpers import Installation, Result, dataset_of, installation, leadsync_env, run_leadsync

JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")
WEBHOOK = f"https://hooks.example.invalid/services/T0/B0/{secrets.token_hex(12)}"


def private_key(path: Path) -> tuple[bytes, bytes]:
    """A new RSA key written to ``path`` (0600); (its PEM, the public key's PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, public


def credentials(crm: str, inst: Installation, work: Path) -> tuple[dict[str, str], list[str]]:
    """Settings (as environment variables) naming every secret for ``crm``, and the secret values."""
    if crm == "hubspot":
        env = {
            "LEADSYNC_HUBSPOT__CLIENT_ID": HUBSPOT["client_id"],
            "LEADSYNC_HUBSPOT__CLIENT_SECRET": HUBSPOT["client_secret"],
            "LEADSYNC_HUBSPOT__REFRESH_TOKEN": HUBSPOT["refresh_token"],
        }
        values = [HUBSPOT["private_app_token"], HUBSPOT["client_secret"], HUBSPOT["refresh_token"]]
    elif crm == "pipedrive":
        env = {
            "LEADSYNC_PIPEDRIVE__CLIENT_ID": PIPEDRIVE["client_id"],
            "LEADSYNC_PIPEDRIVE__CLIENT_SECRET": PIPEDRIVE["client_secret"],
        }
        values = [PIPEDRIVE["api_token"], PIPEDRIVE["client_secret"]]
    else:
        pem, public = private_key(work / "salesforce-key.pem")
        inst.sandbox.apis["salesforce"].register_jwt_key(SALESFORCE["consumer_key"], public)  # type: ignore[attr-defined]
        env = {
            "LEADSYNC_SALESFORCE__AUTH": "jwt",
            "LEADSYNC_SALESFORCE__USERNAME": SALESFORCE["username"],
            "LEADSYNC_SALESFORCE__CONSUMER_KEY": SALESFORCE["consumer_key"],
            "LEADSYNC_SALESFORCE__PRIVATE_KEY_FILE": str(work / "salesforce-key.pem"),
            "LEADSYNC_SALESFORCE__PASSWORD": SALESFORCE["password"],
            "LEADSYNC_SALESFORCE__SECURITY_TOKEN": SALESFORCE["security_token"],
            "LEADSYNC_SALESFORCE__CONSUMER_SECRET": SALESFORCE["consumer_secret"],
        }
        body = b"".join(pem.splitlines()[1:-1]).decode()
        values = [
            SALESFORCE["password"],
            SALESFORCE["security_token"],
            SALESFORCE["consumer_secret"],
            SALESFORCE["session_id"],
            # any 24 characters of the key's body, and each line of it
            *(body[i : i + 24] for i in range(0, len(body) - 24, 24)),
            *(line.decode() for line in pem.splitlines()[1:-1]),
        ]
    return env | {"LEADSYNC_DAEMON__WEBHOOK_URL": WEBHOOK}, [*values, WEBHOOK]


def wrong_credential(crm: str) -> tuple[dict[str, str], str]:
    wrong = f"wrong-{crm}-secret-{secrets.token_hex(8)}"
    name = {
        "hubspot": "LEADSYNC_HUBSPOT__ACCESS_TOKEN",
        "salesforce": "LEADSYNC_SALESFORCE__SESSION_ID",
        "pipedrive": "LEADSYNC_PIPEDRIVE__API_TOKEN",
    }[crm]
    extra = {"LEADSYNC_SALESFORCE__AUTH": "session"} if crm == "salesforce" else {}
    return {name: wrong, **extra}, wrong


def leaked(haystack: bytes, needles: list[str]) -> list[str]:
    found = [needle for needle in needles if needle.encode() in haystack]
    found += [f"a JWT: {m.group()[:20].decode()}..." for m in JWT.finditer(haystack)]
    if b"PRIVATE KEY" in haystack:
        found.append("a PEM private key marker")
    return found


def state_bytes(path: Path) -> bytes:
    """The state database as stored (file, WAL, shared memory), plus every scoring input decompressed."""
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    conn = sqlite3.connect(path)
    try:
        payloads = [zlib.decompress(bytes(row[0])) for row in conn.execute("SELECT payload FROM scoring_inputs")]
    finally:
        conn.close()
    assert payloads, "the scoring inputs were stored"
    return raw + b"".join(payloads)


@pytest.mark.parametrize("crm", CRMS)
def test_no_secret_reaches_output_logs_state_plans_or_reports(crm: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    with installation(crm, tmp_path / "sandbox", dataset_of(150)) as inst:
        settings, values = credentials(crm, inst, work)
        log_file = work / "logs" / "leadsync.log"
        env_file = sandbox_env_file(inst.sandbox, crm, work, extra=[f"LEADSYNC_LOG_FILE={log_file}"])
        env = leadsync_env(**settings)
        state_db = work / f"{crm}-state.db"
        contact = next(iter(inst.ids.values()))
        results: list[tuple[str, Result]] = []

        def run(*args: str, code: int | tuple[int, ...] = (0, 1), extra_env: dict[str, str] | None = None) -> Result:
            result = run_leadsync(
                ["--env-file", str(env_file), "--log-level", "DEBUG", *args], env | (extra_env or {}), work
            )
            assert result.code in ((code,) if isinstance(code, int) else code), (args, result.output)
            assert "Traceback" not in result.output, (args, result.output)
            results.append((" ".join(args), result))
            return result

        run("check")
        run("backfill", "--dry-run")
        run("backfill")
        with open_store(state_db) as store:
            backfill_run = store.list_runs(crm, kind=RunKind.BACKFILL, limit=1)[0].id
        run("sync")
        run("rescore", "--dry-run")
        run("score", contact, "--explain")
        run("runs")
        run("show", str(backfill_run), "--json")
        run("revert", "--dry-run", str(backfill_run))
        run("quarantine")
        run("model", "validate", str(inst.app.settings.model_file))
        run(
            "calibrate",
            "--evaluate-only",
            "--html",
            str(work / "reports" / "calibration.html"),
            "--json-out",
            str(work / "reports" / "calibration.json"),
            code=(0, 1, 2),
        )
        wrong_env, wrong = wrong_credential(crm)
        run("check", code=3, extra_env=wrong_env)
        values.append(wrong)
        typo = work / "typo.env"  # a secret under a misspelt name: the error names the variable, not the value
        typo.write_text(env_file.read_text() + f"LEADSYNC_{crm.upper()}__ACESS_TOKEN={wrong}x\n", encoding="utf-8")
        typo_result = run_leadsync(["--env-file", str(typo), "--log-level", "DEBUG", "check"], env, work)
        assert typo_result.code == 2 and "ACESS_TOKEN" in typo_result.stderr, typo_result.output
        results.append(("check (misspelt secret variable)", typo_result))
        values.append(f"{wrong}x")
        if crm == "salesforce":  # the access tokens the JWT logins were given
            values += list(inst.sandbox.apis["salesforce"]._sessions)  # type: ignore[attr-defined]

    values = list(dict.fromkeys(values))
    assert all(len(v) >= 8 for v in values)
    for command, result in results:
        assert leaked(result.output.encode(), values) == [], f"leadsync {command} printed a secret"
    plans = list((work / "plans").glob("*.csv"))
    reports = [p for p in (work / "reports").glob("*") if p.is_file()] if (work / "reports").exists() else []
    assert plans, "the dry run wrote its plan"
    assert log_file.stat().st_size > 0
    for path in [log_file, *plans, *reports]:
        assert leaked(path.read_bytes(), values) == [], f"{path.name} holds a secret"
    assert leaked(state_bytes(state_db), values) == [], "the state database holds a secret"
    for path in [state_db, *state_db.parent.glob(state_db.name + "-*"), log_file]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path.name} is readable by others"
