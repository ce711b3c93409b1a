"""A revert from the dashboard, through TestClient: the confirmation (a dry run against the sandbox), the POST
with its CSRF token, the run it records with who asked, and a second revert refused until forced."""

from __future__ import annotations

import re

from sync.dashboard.queries import requests_for
from sync.state import RunKind, open_store

from .conftest import PASSWORD, USER, Synced
from .test_pages import csrf_of, server


def test_revert_confirm_then_post(synced: Synced) -> None:
    run_id = synced.backfill_run
    with server(synced) as client:
        client.post("/sign-in", data={"user": USER, "password": PASSWORD, "next": "/dashboard/"})
        confirm = client.get(f"/runs/{run_id}/revert")
        assert confirm.status_code == 200
        planned = int(re.search(r"This will restore (\d+) field", confirm.text).group(1))  # type: ignore[union-attr]
        assert planned > 0 and 'id="conflicts"' in confirm.text
        with open_store(synced.settings.state_url) as store:
            reverts = store.list_runs("hubspot", kind=RunKind.REVERT)
            assert [r.dry_run for r in reverts] == [True], "the confirmation is a dry run and writes nothing"

        done = client.post(f"/runs/{run_id}/revert", data={"csrf": csrf_of(confirm.text)}, follow_redirects=False)
        assert done.status_code == 303
        revert_id = int(done.headers["location"].rsplit("/", 1)[1])
        with open_store(synced.settings.state_url) as store:
            run = store.get_run(revert_id)
            assert run is not None and run.kind is RunKind.REVERT and not run.dry_run and run.status == "ok"
            assert requests_for(store, [revert_id]) == {revert_id: f"{USER} (dashboard)"}
            restored = [row for row in store.audit_for_run(revert_id) if row.status == "ok"]
        assert len(restored) == planned
        page = client.get(f"/runs/{revert_id}").text
        assert f"Asked for by {USER} (dashboard)" in page

        again = client.get(f"/runs/{run_id}/revert")
        assert f"already reverted by run {revert_id}" in again.text and "This will restore 0 field" in again.text
        refused = client.post(f"/runs/{run_id}/revert", data={"csrf": csrf_of(again.text)})
        assert refused.status_code == 409 and "already reverted" in refused.text
