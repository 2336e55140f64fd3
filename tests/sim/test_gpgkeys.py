"""GPG keys in the simulator (API-NOTES §2.9, §6 item 48)."""

from __future__ import annotations

import requests

from drkit.testing import Simulator
from drkit.testing.gpg_demo_keys import DEMO_FINGERPRINTS, DEMO_KEY_IDS, DEMO_KEYS


def h(sim: Simulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.token}", "Content-Type": "application/json"}


def create(sim: Simulator, data: str, query: str = "") -> requests.Response:
    return requests.post(f"{sim.url}/api/v1/gpgkeys{query}", headers=h(sim), json={"keyData": data})


def test_create_parses_key_id_fingerprint_and_owner(sim: Simulator) -> None:
    """§6.48: create returns {created:{items:[{keyID,fingerprint,owner,trust,subType,keyData}]}} as gpg sees it."""
    r = create(sim, DEMO_KEYS[0])
    assert r.status_code == 200
    (item,) = r.json()["created"]["items"]
    assert item == {
        "keyID": DEMO_KEY_IDS[0],
        "fingerprint": DEMO_FINGERPRINTS[0],
        "owner": "Demo Signer One <demo1@example.com>",
        "trust": "unknown",
        "subType": "ed25519",
        "keyData": DEMO_KEYS[0],
    }
    assert "skipped" not in r.json()
    assert sim.gpgkeys[DEMO_KEY_IDS[0]]["keyData"] == DEMO_KEYS[0]


def test_existing_keys_are_skipped_even_with_upsert(sim: Simulator) -> None:
    """§6.48: existing IDs are skipped, never replaced; upsert is ignored."""
    create(sim, DEMO_KEYS[0])
    r = create(sim, DEMO_KEYS[0], "?upsert=true")
    assert r.json()["skipped"] == [DEMO_KEY_IDS[0]]
    assert not r.json()["created"]["items"]


def test_empty_or_garbage_data_is_500(sim: Simulator) -> None:
    """§2.9: empty key data is a plain error, 500; so is data that is not an armored public key."""
    assert create(sim, "").status_code == 500
    assert (
        create(sim, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n").status_code
        == 500
    )
    assert sim.gpgkeys == {}


def test_list_strips_key_data_and_get_returns_it(sim: Simulator) -> None:
    """§6.48: the list strips keyData (and ignores keyID); GET returns the full object."""
    for key in DEMO_KEYS:
        create(sim, key)
    items = requests.get(f"{sim.url}/api/v1/gpgkeys?keyID=ignored", headers=h(sim)).json()["items"]
    assert [i["keyID"] for i in items] == sorted(DEMO_KEY_IDS)
    assert all("keyData" not in i for i in items)
    got = requests.get(f"{sim.url}/api/v1/gpgkeys/{DEMO_KEY_IDS[1]}", headers=h(sim)).json()
    assert got["keyData"] == DEMO_KEYS[1]


def test_empty_list_may_be_null(sim: Simulator) -> None:
    """§1.4: the GPG list builds a nil slice, so items is null when empty."""
    assert requests.get(f"{sim.url}/api/v1/gpgkeys", headers=h(sim)).json()["items"] is None


def test_get_unknown_is_500_no_such_key(sim: Simulator) -> None:
    """§6.48: GET of an unknown ID gives 500 `no such key: <id>`."""
    r = requests.get(f"{sim.url}/api/v1/gpgkeys/0123456789ABCDEF", headers=h(sim))
    assert (r.status_code, r.json()["message"]) == (500, "no such key: 0123456789ABCDEF")


def test_delete_by_key_id_query(sim: Simulator) -> None:
    """§2.9: DELETE /api/v1/gpgkeys?keyID=<id> removes the key."""
    create(sim, DEMO_KEYS[0])
    r = requests.delete(f"{sim.url}/api/v1/gpgkeys?keyID={DEMO_KEY_IDS[0]}", headers=h(sim))
    assert (r.status_code, r.json()) == (200, {})
    assert sim.gpgkeys == {}
