"""Certificates and SSH known hosts in the simulator (API-NOTES §2.8, §6 item 47)."""

from __future__ import annotations

import base64

import requests

from drkit.testing import Simulator
from drkit.testing.certificates import DEFAULT_KNOWN_HOSTS

# Self-signed test certificates made once with openssl (their private keys were never kept)
EC_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBzzCCAXWgAwIBAgIUR14vPQOx9aQpCHQPYm1MF9tsOTUwCgYIKoZIzj0EAwIw
PDELMAkGA1UEBhMCVVMxEzARBgNVBAoMCkRya2l0IFRlc3QxGDAWBgNVBAMMD2dp
dC5leGFtcGxlLmNvbTAgFw0yNjExMjkwNDI1NDZaGA8yMTI2MTEwNTA0MjU0Nlow
PDELMAkGA1UEBhMCVVMxEzARBgNVBAoMCkRya2l0IFRlc3QxGDAWBgNVBAMMD2dp
dC5leGFtcGxlLmNvbTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHN4qZUn+Q31
rqnptZhTB63FWzoumbJ07/woMlTnqW3hnzLTAcyghAJNnR4j1NoXl1G5VwGgWfkS
fUitsCyKmUSjUzBRMB0GA1UdDgQWBBTum0V9lKK1JYQoEJoBGwTEDbVnJjAfBgNV
HSMEGDAWgBTum0V9lKK1JYQoEJoBGwTEDbVnJjAPBgNVHRMBAf8EBTADAQH/MAoG
CCqGSM49BAMCA0gAMEUCIQCCIerTvO9nG1hIOXA9Ouoexv66FzH3qn/fZVrfbU68
DQIgBaERra+dyGhgzv4XELkTrkK2JrWn4TEzLgX6rwSO4KU=
-----END CERTIFICATE-----
"""
ED_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBmTCCAUugAwIBAgIUcidLWXqYdKeo5F8ArHsVEROL3GYwBQYDK2VwMEExEzAR
BgNVBAoMCkRya2l0IFRlc3QxDzANBgNVBAsMBlNlY29uZDEZMBcGA1UEAwwQaGVs
bS5leGFtcGxlLmNvbTAgFw0yNjExMjkwNDI1NDZaGA8yMTI2MTEwNTA0MjU0Nlow
QTETMBEGA1UECgwKRHJraXQgVGVzdDEPMA0GA1UECwwGU2Vjb25kMRkwFwYDVQQD
DBBoZWxtLmV4YW1wbGUuY29tMCowBQYDK2VwAyEAMPn8VPKncSZIJrx5dxzvHa2B
WQklyhTuX/sydDS+PnSjUzBRMB0GA1UdDgQWBBRVdAXFaMrFsEyKYu7dTerfuZAf
1zAfBgNVHSMEGDAWgBRVdAXFaMrFsEyKYu7dTerfuZAf1zAPBgNVHRMBAf8EBTAD
AQH/MAUGAytlcANBAA39/tXTrIyYzrUTFhl555dq7pL5fsEfbTV28gWb7chb76V0
X835TMketempgR/8olbAS/MrF/KsI5L9hYfDUw4=
-----END CERTIFICATE-----
"""
ED25519_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"  # github.com's
OTHER_ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIIazEu89wgQZ4bqs3d63QSMzYVa0MuJ2e2gKTKqu+UUO"  # bitbucket.org's


def h(sim: Simulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.token}", "Content-Type": "application/json"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def ssh(host: str, key: str = ED25519_KEY, sub: str = "ssh-ed25519") -> dict[str, str]:
    return {"serverName": host, "certType": "ssh", "certSubType": sub, "certData": b64(key)}


def create(sim: Simulator, items: list[dict], query: str = "") -> requests.Response:
    return requests.post(f"{sim.url}/api/v1/certificates{query}", headers=h(sim), json={"items": items})


def listed(sim: Simulator, query: str = "") -> list[dict]:
    return requests.get(f"{sim.url}/api/v1/certificates{query}", headers=h(sim)).json()["items"]


def test_default_known_hosts_preloaded(sim: Simulator) -> None:
    """§6.47, §2.8: a fresh install knows github.com, [ssh.github.com]:443, gitlab.com, bitbucket.org, Azure."""
    items = listed(sim)
    hosts = {(i["serverName"], i["certSubType"]) for i in items}
    for host in ("github.com", "[ssh.github.com]:443", "gitlab.com", "bitbucket.org"):
        for sub in ("ssh-rsa", "ecdsa-sha2-nistp256", "ssh-ed25519"):
            assert (host, sub) in hosts, (host, sub)
    assert ("ssh.dev.azure.com", "ssh-rsa") in hosts and ("vs-ssh.visualstudio.com", "ssh-rsa") in hosts
    assert len(items) == len(DEFAULT_KNOWN_HOSTS) == 14


def test_list_has_null_cert_data_and_ssh_fingerprints(sim: Simulator) -> None:
    """§6.47: certData is always null in the list; certInfo is the SHA256 fingerprint for SSH."""
    items = listed(sim, "?hostNamePattern=github.com&certSubType=ssh-ed25519")
    assert items == [
        {
            "serverName": "github.com",
            "certType": "ssh",
            "certSubType": "ssh-ed25519",
            "certInfo": "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU",
            "certData": None,
        }
    ]


def test_list_filters_glob_and_tls_alias(sim: Simulator) -> None:
    """§2.8: hostNamePattern is a glob; certType `tls` is an alias of `https` for list and delete."""
    assert create(sim, [{"serverName": "git.example.com", "certType": "https", "certData": b64(EC_PEM)}]).ok
    assert {i["serverName"] for i in listed(sim, "?hostNamePattern=*lab.com")} == {"gitlab.com"}
    (tls,) = listed(sim, "?certType=tls")
    assert tls == {
        "serverName": "git.example.com",
        "certType": "https",
        "certSubType": "ecdsa",
        "certInfo": "CN=git.example.com,O=Drkit Test,C=US",
        "certData": None,
    }
    assert listed(sim, "?certType=https") == [tls]
    assert all(i["certType"] == "ssh" for i in listed(sim, "?certType=ssh"))


def test_https_pem_with_several_certificates_lists_each(sim: Simulator) -> None:
    """§2.8: HTTPS takes PEM data, possibly several certificates; the subtype is the key algorithm."""
    assert create(sim, [{"serverName": "helm.example.com", "certType": "https", "certData": b64(EC_PEM + ED_PEM)}]).ok
    items = listed(sim, "?certType=https")
    assert [(i["certSubType"], i["certInfo"]) for i in items] == [
        ("ecdsa", "CN=git.example.com,O=Drkit Test,C=US"),
        ("ed25519", "CN=helm.example.com,OU=Second,O=Drkit Test"),
    ]


def test_create_returns_only_created_or_changed(sim: Simulator) -> None:
    """§2.8: create returns only the entries created or changed; identical data is a no-op."""
    r = create(sim, [ssh("git.example.com"), ssh("github.com", sub="ssh-ed25519")])
    assert r.status_code == 200
    assert [i["serverName"] for i in r.json()["items"]] == ["git.example.com"]
    stored = [c for c in sim.certificates if c["serverName"] == "git.example.com"]
    assert stored == [ssh("git.example.com")]


def test_create_different_data_without_upsert_is_500(sim: Simulator) -> None:
    """§6.47: an existing host+subtype with different data and no upsert is a plain error, 500."""
    r = create(sim, [ssh("github.com", key=OTHER_ED25519)])
    assert r.status_code == 500
    assert "already exists, and upsert was not specified" in r.json()["message"]
    r = create(sim, [ssh("github.com", key=OTHER_ED25519)], "?upsert=true")
    assert [i["serverName"] for i in r.json()["items"]] == ["github.com"]
    (entry,) = [c for c in sim.certificates if c["serverName"] == "github.com" and c["certSubType"] == "ssh-ed25519"]
    assert entry["certData"] == b64(OTHER_ED25519)


def test_create_validates_type_hostname_and_data(sim: Simulator) -> None:
    """§2.8: unknown type, bad hostname, bad key text or PEM are 500; `tls` is not accepted by create."""
    bad = [
        dict(ssh("x.example.com"), certType="tls"),
        ssh("bad host!"),
        ssh("x.example.com", key="not a key"),
        ssh("x.example.com", sub="ssh-rsa"),  # subtype does not match the key blob
        {"serverName": "x.example.com", "certType": "https", "certData": b64("-----BEGIN CERTIFICATE-----\nAAAA\n")},
    ]
    for item in bad:
        assert create(sim, [item]).status_code == 500, item
    assert len(sim.certificates) == len(DEFAULT_KNOWN_HOSTS)


def test_create_accepts_bracketed_host_with_port(sim: Simulator) -> None:
    """§2.8: an SSH entry's serverName may be `[host]:port`."""
    assert create(sim, [ssh("[git.example.com]:2222")]).status_code == 200
    assert listed(sim, "?hostNamePattern=*2222")[0]["serverName"] == "[git.example.com]:2222"


def test_delete_with_filter_and_without_filter_wipes_all(sim: Simulator) -> None:
    """§6.47: DELETE removes what the filters match; with no filter every certificate and known host goes."""
    r = requests.delete(f"{sim.url}/api/v1/certificates?hostNamePattern=gitlab.com", headers=h(sim))
    assert len(r.json()["items"]) == 3
    assert not listed(sim, "?hostNamePattern=gitlab.com")
    requests.delete(f"{sim.url}/api/v1/certificates", headers=h(sim))
    assert listed(sim) == []
    assert sim.certificates == ()


def test_certificates_live_in_argocd_s_configmaps(sim: Simulator) -> None:
    """util/db/certificate.go: a TLS certificate is argocd-tls-certs-cm's key for its host, an SSH key a line of
    argocd-ssh-known-hosts-cm; what Kubernetes writes there is what the API lists (a --kube restore's ConfigMaps)."""
    assert create(sim, [{"serverName": "helm.example.com", "certType": "https", "certData": b64(EC_PEM)}]).ok
    tls = sim.kube.get("configmaps", sim.namespace, "argocd-tls-certs-cm")
    assert tls["data"] == {"helm.example.com": EC_PEM.strip()}
    known = sim.kube.get("configmaps", sim.namespace, "argocd-ssh-known-hosts-cm")
    line = f"git.example.com ssh-ed25519 {ED25519_KEY}"
    sim.kube.update(
        "configmaps",
        sim.namespace,
        "argocd-ssh-known-hosts-cm",
        {**known, "data": {"ssh_known_hosts": known["data"]["ssh_known_hosts"] + line + "\n"}},
        manager="kubectl",
    )
    assert ("git.example.com", "ssh-ed25519") in {(i["serverName"], i.get("certSubType")) for i in listed(sim)}
