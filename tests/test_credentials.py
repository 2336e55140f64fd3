"""Tests for the restore credentials file: value forms, validation, URL matching, encoding, redaction, AWS."""

from __future__ import annotations

import base64
import json
import socket
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from drkit.errors import CredentialError
from drkit.restore.credentials import (
    Certificate,
    Credentials,
    Secret,
    load,
    normalize_repo_url,
    same_url,
)
from drkit.restore.secretsmanager import _aws_hint, fetcher

SECRET = "SUPER-SECRET-7f3a9c"  # distinctive: must never show up in any message, repr or str
ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"  # github.com's public host key
RSA_KEY = base64.b64encode(b"\x00\x00\x00\x07ssh-rsa" + b"\x00\x00\x00\x01\x01" * 2).decode()  # e, n
PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUR0ZmY=\n-----END CERTIFICATE-----"
CA_B64 = base64.b64encode(PEM.encode()).decode()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "credentials.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def no_fetch(secret_id: str) -> str:
    raise AssertionError(f"unexpected AWS fetch of {secret_id}")


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None, fetch=no_fetch) -> str:
    with pytest.raises(CredentialError) as info:
        load(write(tmp_path, text), env=env or {}, fetch_secret=fetch)
    message = str(info.value)
    assert SECRET not in message
    assert info.value.exit_code == 2
    return message


# --- Secret -----------------------------------------------------------------------------------------------------


def test_secret_never_prints_its_value() -> None:
    secret = Secret(SECRET)
    assert repr(secret) == "Secret('**redacted**')"
    assert str(secret) == "**redacted**"
    assert SECRET not in f"{secret} {secret!r} {[secret]} { ({'k': secret}) }"
    assert secret.reveal() == SECRET


def test_secret_equality_and_hash_by_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert len({Secret("a"), Secret("a"), Secret("b")}) == 2


# --- value forms --------------------------------------------------------------------------------------------------


def test_every_value_form_resolves(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(f"{SECRET}-file\n")
    (tmp_path / "two-newlines").write_text("value\n\n")
    fetched: list[str] = []

    def fetch(secret_id: str) -> str:
        fetched.append(secret_id)
        return json.dumps({"token": f"{SECRET}-aws", "id": 42}) if secret_id == "prod/git" else f"{SECRET}-whole"

    path = write(
        tmp_path,
        """
        repositories:
          https://git.example.com/team/app.git:
            username: bot
            password: {env: GIT_TOKEN}
            tlsClientCertKey: {file: two-newlines}
            githubAppID: {aws-secretsmanager: prod/git, key: id}
            insecure: true
            enableLfs: {env: LFS}
          git@github.com:org/infra.git:
            sshPrivateKey: {file: key}
        repocreds:
          https://git.example.com/team:
            password: {aws-secretsmanager: prod/git, key: token}
            bearerToken: {aws-secretsmanager: prod/whole}
            githubAppInstallationID: 7
        """,
    )
    creds = load(path, env={"GIT_TOKEN": f"{SECRET}-env", "LFS": "True"}, fetch_secret=fetch)
    assert creds.for_repository("https://git.example.com/team/app.git") == {
        "username": "bot",
        "password": Secret(f"{SECRET}-env"),
        "tlsClientCertKey": Secret("value\n\n"),  # not a single line: used byte for byte
        "githubAppID": 42,
        "insecure": True,
        "enableLfs": True,
    }
    assert creds.for_repository("git@github.com:org/infra.git") == {"sshPrivateKey": Secret(f"{SECRET}-file")}
    assert creds.for_repocreds("https://git.example.com/team") == {
        "password": Secret(f"{SECRET}-aws"),
        "bearerToken": Secret(f"{SECRET}-whole"),
        "githubAppInstallationID": 7,
    }
    assert sorted(fetched) == ["prod/git", "prod/whole"]  # each secret fetched once, however many keys use it


@pytest.mark.parametrize(
    ("content", "value"),
    [
        (f"{SECRET}\n", SECRET),  # a password or token file: its one trailing newline is not part of it
        (f"{SECRET}\r\n", SECRET),
        (SECRET, SECRET),
        (f"{PEM}\n", f"{PEM}\n"),  # PEM, OpenSSH, JSON keys: byte for byte, final newline included
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n", None),
        ('{\n  "type": "service_account"\n}\n', None),
        ("line one\nline two", None),
    ],
    ids=["token", "token-crlf", "no-newline", "pem", "openssh", "json", "two-lines"],
)
def test_file_values_lose_a_newline_only_when_single_line(tmp_path: Path, content: str, value: str | None) -> None:
    """Issue 7 defect 3: multi-line key material keeps its bytes, so the restored secret equals the lost one."""
    (tmp_path / "value").write_bytes(content.encode())
    path = write(tmp_path, "repositories:\n  https://g.example.com/a.git:\n    sshPrivateKey: {file: value}\n")
    entry = load(path, env={}, fetch_secret=None).for_repository("https://g.example.com/a.git")
    assert entry == {"sshPrivateKey": Secret(content if value is None else value)}


def test_file_paths_are_relative_to_the_credentials_file(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("tok\r\n")
    absolute = tmp_path / "abs-token"
    absolute.write_text("abs")
    path = write(
        tmp_path,
        f"""
        clusters:
          https://a.example.com: {{bearerToken: {{file: secrets/token}}}}
          https://b.example.com: {{bearerToken: {{file: {absolute}}}}}
        """,
    )
    creds = load(path, env={}, fetch_secret=None)
    assert creds.for_cluster("https://a.example.com") == {"bearerToken": Secret("tok")}
    assert creds.for_cluster("https://b.example.com") == {"bearerToken": Secret("abs")}


def test_empty_file_means_no_entries(tmp_path: Path) -> None:
    creds = load(write(tmp_path, ""), env={}, fetch_secret=None)
    assert creds.certificates() == []
    assert creds.unused() == []
    assert creds.for_repository("https://x/y") is None


# --- every problem collected --------------------------------------------------------------------------------------


def test_every_problem_is_collected_and_named_without_values(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")

    def fetch(secret_id: str) -> str:
        return json.dumps({"token": SECRET}) if secret_id == "json" else SECRET

    message = problems(
        tmp_path,
        f"""
        repositories:
          https://git.example.com/team/app.git:
            username: bot
            password: {{env: GIT_TOKEN}}
            sshPrivateKey: {{env: EMPTY}}
            bearerToken: {{file: missing}}
            tlsClientCertKey: {{file: empty}}
            githubAppPrivateKey: {{aws-secretsmanager: json, key: nokey}}
            gcpServiceAccountKey: {{aws-secretsmanager: plain, key: token}}
            azureServicePrincipalClientSecret: {{vault: x}}
            githubAppID: "{SECRET}"
            insecure: "{SECRET}"
            proxy: 12345
        """,
        env={"EMPTY": ""},
        fetch=fetch,
    )
    where = 'repositories "https://git.example.com/team/app.git"'
    expected = [
        f"{where} password: environment variable GIT_TOKEN is not set",
        f"{where} sshPrivateKey: environment variable EMPTY is empty",
        f"{where} bearerToken: file {tmp_path / 'missing'} cannot be read (No such file or directory)",
        f"{where} tlsClientCertKey: file {tmp_path / 'empty'} is empty",
        f"{where} githubAppPrivateKey: AWS Secrets Manager secret json has no key nokey (its keys: token)",
        f"{where} gcpServiceAccountKey: AWS Secrets Manager secret plain is not a JSON object",
        f"{where} azureServicePrincipalClientSecret: unknown reference (keys: vault)",
        f"{where} githubAppID: must be a whole number",
        f"{where} insecure: must be true or false",
        f"{where} proxy: must be a string (quote numbers in YAML)",
    ]
    for line in expected:
        assert line in message
    assert message.startswith(f"credentials file {tmp_path / 'credentials.yaml'}: 10 problems, nothing was written")


def test_error_carries_the_list_of_problems(tmp_path: Path) -> None:
    with pytest.raises(CredentialError) as info:
        load(
            write(tmp_path, "clusters: {https://a: {bearerToken: {env: A}, password: {env: B}}}"),
            env={},
            fetch_secret=None,
        )
    assert info.value.problems == [  # type: ignore[attr-defined]
        'clusters "https://a" bearerToken: environment variable A is not set; set it, or change the reference',
        'clusters "https://a" password: environment variable B is not set; set it, or change the reference',
    ]


def test_aws_reference_without_a_fetcher_is_an_error(tmp_path: Path) -> None:
    message = problems(tmp_path, "repocreds: {https://x: {password: {aws-secretsmanager: prod/git}}}", fetch=None)
    assert "AWS Secrets Manager secret prod/git: no AWS access was configured" in message


def test_a_failing_fetcher_is_reported_by_type_never_by_its_text(tmp_path: Path) -> None:
    def fetch(secret_id: str) -> str:
        raise RuntimeError(f"leaky {SECRET}")

    message = problems(tmp_path, "repocreds: {https://x: {password: {aws-secretsmanager: s1}}}", fetch=fetch)
    assert "AWS Secrets Manager secret s1 could not be read (RuntimeError)" in message


def test_invalid_yaml_names_the_position_but_not_the_line(tmp_path: Path) -> None:
    message = problems(tmp_path, f"repositories:\n  https://x:\n    password: {SECRET}: oops\n")
    assert "is not valid YAML at line 3" in message


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    message = problems(tmp_path, "clusters:\n  https://a: {bearerToken: x}\n  https://a: {bearerToken: y}\n")
    assert "duplicate key https://a" in message


def test_entries_for_the_same_url_are_refused(tmp_path: Path) -> None:
    message = problems(
        tmp_path,
        """
        repositories:
          https://Git.Example.com/team/app.git: {username: a}
          https://git.example.com/team/app: {username: b}
        clusters:
          https://a:6443: {bearerToken: x}
          https://a:6443/: {bearerToken: y}
        """,
    )
    assert 'repositories "https://git.example.com/team/app": is the same URL as "https://Git.Example.com' in message
    assert 'clusters "https://a:6443/": is the same URL as "https://a:6443"' in message


def test_unreadable_credentials_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match=r"credentials file .*nope\.yaml cannot be read \(No such file"):
        load(tmp_path / "nope.yaml", env={}, fetch_secret=None)


# --- shape and field-name validation ---------------------------------------------------------------------------


def test_unknown_sections_and_fields_are_typos(tmp_path: Path) -> None:
    message = problems(
        tmp_path,
        """
        repository: {}
        secrets: {}
        repositories:
          https://x/y.git: {passwrd: a, repo: b}
        repocreds:
          https://x: {insecureIgnoreHostKey: true}
        clusters:
          https://c: {tlsClientConfig: {cadata: a}, execProviderConfig: {comand: x}, bearer: t}
        certificates:
          - {serverName: h, certType: https, certData: x, subtype: y}
        """,
    )
    for line in [
        "unknown section repository, secrets: the sections are repositories, repocreds, clusters, certificates",
        'repositories "https://x/y.git" passwrd: unknown field; did you mean password?',
        'repositories "https://x/y.git" repo: unknown field',
        'repocreds "https://x" insecureIgnoreHostKey: unknown field',  # a Repository field, not a RepoCreds one
        'clusters "https://c" tlsClientConfig.cadata: unknown field; did you mean caData?',
        'clusters "https://c" execProviderConfig.comand: unknown field; did you mean command?',
        'clusters "https://c" bearer: unknown field; did you mean bearerToken?',
        'certificates[0] "h" subtype: unknown field; expected one of serverName, certType, certSubType, certData',
    ]:
        assert line in message


def test_bad_shapes(tmp_path: Path) -> None:
    message = problems(
        tmp_path,
        """
        repositories: [a, b]
        repocreds:
          https://x: null
        clusters:
          10.0.0.1:6443: {bearerToken: t}
          https://d: {execProviderConfig: {args: notalist, env: {A: {env: MISSING}}}}
        certificates: {serverName: x}
        """,
    )
    for line in [
        "repositories: must be a mapping of URLs to Argo CD fields",
        'repocreds "https://x": must be a non-empty mapping of Argo CD field names to values',
        'clusters "10.0.0.1:6443": the key must be the cluster\'s server URL, such as https://10.0.0.1:6443',
        'clusters "https://d" execProviderConfig.args: must be a list',
        'clusters "https://d" execProviderConfig.env.A: environment variable MISSING is not set',
        "certificates: must be a list of {serverName, certType, certData} entries",
    ]:
        assert line in message


def test_exec_provider_args_and_env_are_secrets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        clusters:
          https://eks.example.com:
            awsAuthConfig: {clusterName: prod, roleARN: "arn:aws:iam::1:role/argocd"}
            execProviderConfig: {command: argocd-k8s-auth, args: [aws, {env: TOK}], env: {K: v}, apiVersion: v1}
        """,
    )
    creds = load(path, env={"TOK": SECRET}, fetch_secret=None)
    fields = creds.for_cluster("https://eks.example.com")
    assert fields == {
        "awsAuthConfig": {"clusterName": "prod", "roleARN": "arn:aws:iam::1:role/argocd"},
        "execProviderConfig": {
            "command": "argocd-k8s-auth",
            "args": [Secret("aws"), Secret(SECRET)],
            "env": {"K": Secret("v")},
            "apiVersion": "v1",
        },
    }
    assert SECRET not in repr(fields)


# --- cluster base64 fields --------------------------------------------------------------------------------------


def test_cluster_tls_data_must_be_base64_and_passes_through_unchanged(tmp_path: Path) -> None:
    wrapped = "\n".join(CA_B64[i : i + 20] for i in range(0, len(CA_B64), 20))  # as `base64` wraps it
    (tmp_path / "ca.b64").write_text(wrapped + "\n")
    path = write(
        tmp_path,
        f"""
        clusters:
          https://10.0.0.1:6443:
            bearerToken: {{env: TOKEN}}
            tlsClientConfig: {{caData: {{file: ca.b64}}, certData: "{CA_B64}", insecure: false, serverName: k8s}}
        """,
    )
    fields = load(path, env={"TOKEN": SECRET}, fetch_secret=None).for_cluster("https://10.0.0.1:6443")
    assert fields == {
        "bearerToken": Secret(SECRET),
        "tlsClientConfig": {
            "caData": Secret(wrapped + "\n"),  # multi-line: byte for byte (Go's decoder skips line breaks)
            "certData": Secret(CA_B64),
            "insecure": False,
            "serverName": "k8s",
        },
    }


@pytest.mark.parametrize("value", [PEM.replace("\n", "\\n"), "abc", "abc$def=", "YWJj\\nZA"])
def test_cluster_tls_data_that_is_not_base64_is_an_error(tmp_path: Path, value: str) -> None:
    message = problems(tmp_path, f'clusters: {{https://c: {{tlsClientConfig: {{keyData: "{value}"}}}}}}')
    assert 'clusters "https://c" tlsClientConfig.keyData: is not valid base64; give it base64-encoded' in message


# --- certificates -----------------------------------------------------------------------------------------------


def load_certificates(tmp_path: Path, entries: str) -> list[Certificate]:
    return load(write(tmp_path, f"certificates:\n{entries}"), env={}, fetch_secret=None).certificates()


def test_https_certificate_is_base64_encoded_for_the_api(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text(PEM + "\n")
    (cert,) = load_certificates(
        tmp_path, "  - {serverName: git.example.com, certType: https, certData: {file: ca.pem}}"
    )
    item = cert.api_item()
    assert item == {
        "serverName": "git.example.com",
        "certType": "https",
        "certSubType": "",
        "certData": item["certData"],
    }
    assert base64.b64decode(item["certData"]).decode() == PEM + "\n"  # byte for byte, final newline included


@pytest.mark.parametrize(
    "data",
    [
        ED25519,  # the key field alone, as Argo CD's own certData holds it
        f"ssh-ed25519 {ED25519}",
        f"ssh-ed25519 {ED25519} a comment",
        f"ssh-gw.example.com ssh-ed25519 {ED25519}",
        f"github.com,ssh-gw.example.com ssh-ed25519 {ED25519} comment",
    ],
)
def test_ssh_key_or_known_hosts_line_gives_subtype_and_key(tmp_path: Path, data: str) -> None:
    entry = f'  - {{serverName: ssh-gw.example.com, certType: ssh, certData: "{data}"}}'
    (cert,) = load_certificates(tmp_path, entry)
    assert cert.api_item() == {
        "serverName": "ssh-gw.example.com",
        "certType": "ssh",
        "certSubType": "ssh-ed25519",
        "certData": base64.b64encode(ED25519.encode()).decode(),
    }


def test_ssh_bare_key_field_checks_certsubtype_and_known_hosts_line_checks_servername(tmp_path: Path) -> None:
    """Issue 7 defect 1: each form is checked against the key's own type, and the message names what disagrees."""
    message = problems(
        tmp_path,
        f"""
        certificates:
          - {{serverName: h, certType: ssh, certSubType: ssh-rsa, certData: "{ED25519}"}}
          - {{serverName: h, certType: ssh, certSubType: ssh-ed25519, certData: "{ED25519[:-8]}"}}
          - {{serverName: h, certType: ssh, certSubType: ssh-rsa, certData: "h ssh-ed25519 {ED25519}"}}
          - {{serverName: gitlab.com, certType: ssh, certSubType: ssh-ed25519, certData: "h ssh-ed25519 {ED25519}"}}
        """,
    )
    assert 'certificates[0] "h" certData: certSubType ssh-rsa does not match the key\'s type ssh-ed25519' in message
    assert 'certificates[1] "h" certData: must be an SSH public key as in known_hosts' in message  # cut short
    assert 'certificates[2] "h" certData: certSubType ssh-rsa does not match the key\'s type ssh-ed25519' in message
    assert 'certificates[3] "gitlab.com" certData: is a known_hosts line for h, not for serverName gitlab.com' in (
        message
    )


def test_ssh_certificate_mistakes(tmp_path: Path) -> None:
    message = problems(
        tmp_path,
        f"""
        certificates:
          - {{serverName: gitlab.com, certType: ssh, certData: "github.com ssh-ed25519 {ED25519}"}}
          - {{serverName: h, certType: ssh, certSubType: ssh-rsa, certData: "ssh-ed25519 {ED25519}"}}
          - {{serverName: h, certType: ssh, certData: "ssh-ed25519 {RSA_KEY}"}}
          - {{serverName: h, certType: ssh, certData: "{ED25519[:-4]}"}}
          - {{serverName: h, certType: tls, certData: x}}
          - {{certType: ssh}}
        """,
    )
    for line in [
        'certificates[0] "gitlab.com" certData: is a known_hosts line for github.com, not for serverName gitlab.com',
        'certificates[1] "h" certData: certSubType ssh-rsa does not match the key\'s type ssh-ed25519',
        'certificates[2] "h" certData: says ssh-ed25519, but the key data is a ssh-rsa key; copy the line again',
        'certificates[3] "h" certData: must be an SSH public key as in known_hosts',
        'certificates[4] "h" certType: must be https or ssh',
        "certificates[5]: serverName is missing",
        "certificates[5]: certData is missing",
    ]:
        assert line in message


# --- URL matching -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://git.example.com/team/app.git", "https://GIT.example.com/Team/App"),
        ("git@github.com:org/infra.git", "ssh://git@github.com/org/infra"),
        ("git@github.com:org/infra", "ssh://git@github.com/org/infra.git"),
        (" https://x/y ", "https://x/y.git"),
    ],
)
def test_same_url_matches_as_argo_cd_does(a: str, b: str) -> None:
    assert same_url(a, b)
    assert same_url(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://github.com/org/infra", "git@github.com:org/infra"),
        ("https://x/y", "http://x/y"),
        ("https://x/y", "https://x/y/z"),
        ("ssh://git@host:2222/org/r", "git@host:org/r"),
        ("", ""),
    ],
)
def test_different_urls_do_not_match(a: str, b: str) -> None:
    assert not same_url(a, b)


def test_normalize_repo_url() -> None:
    assert normalize_repo_url("git@GitHub.com:Org/Infra.git") == "git@github.com/org/infra"
    assert normalize_repo_url("ssh://git@github.com/org/infra.git") == "git@github.com/org/infra"
    assert normalize_repo_url("https://x/y.git") == "https://x/y"


def test_lookups_match_url_variants(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        repositories:
          git@github.com:org/infra.git: {username: a}
        repocreds:
          https://git.example.com/Team: {username: b}
        clusters:
          https://10.0.0.1:6443/: {bearerToken: c}
        """,
    )
    creds = load(path, env={}, fetch_secret=None)
    assert creds.for_repository("ssh://git@github.com/org/infra") == {"username": "a"}
    assert creds.for_repository("https://github.com/org/infra") is None
    assert creds.for_repocreds("https://git.example.com/team.git") == {"username": "b"}
    assert creds.for_repocreds("https://git.example.com/team/app") is None  # a template is found by its own URL
    assert creds.for_repository("https://git.example.com/team") is None  # sections are not mixed
    assert creds.for_cluster("https://10.0.0.1:6443") == {"bearerToken": Secret("c")}
    assert creds.for_cluster("https://10.0.0.1:6443//") == {"bearerToken": Secret("c")}
    assert creds.for_cluster("https://10.0.0.2:6443") is None


# --- merge_into, unused, repr -----------------------------------------------------------------------------------


@pytest.fixture
def creds(tmp_path: Path) -> Credentials:
    path = write(
        tmp_path,
        """
        repositories:
          https://git.example.com/team/app.git: {username: bot, password: {env: GIT_TOKEN}}
          https://git.example.com/typo/app.git: {password: {env: GIT_TOKEN}}
        repocreds:
          https://git.example.com/team: {password: {env: GIT_TOKEN}}
        clusters:
          https://10.0.0.1:6443: {bearerToken: {env: GIT_TOKEN}, tlsClientConfig: {caData: {env: CA}}}
        certificates:
          - {serverName: git.example.com, certType: https, certData: {env: PEM}}
        """,
    )
    return load(path, env={"GIT_TOKEN": SECRET, "CA": CA_B64, "PEM": PEM}, fetch_secret=None)


def test_merge_into_reveals_secrets_in_a_new_body(creds: Credentials) -> None:
    body = {"repo": "https://GIT.example.com/team/app", "type": "git", "username": "old"}
    merged = creds.merge_into("repositories", body["repo"], body)
    assert merged == {"repo": "https://GIT.example.com/team/app", "type": "git", "username": "bot", "password": SECRET}
    assert body["username"] == "old" and "password" not in body


def test_merge_into_cluster_goes_under_config(creds: Credentials) -> None:
    body = {"server": "https://10.0.0.1:6443", "name": "prod", "config": {"tlsClientConfig": {"insecure": False}}}
    merged = creds.merge_into("clusters", "https://10.0.0.1:6443/", body)
    assert merged["config"] == {"bearerToken": SECRET, "tlsClientConfig": {"insecure": False, "caData": CA_B64}}
    assert body["config"] == {"tlsClientConfig": {"insecure": False}}
    bare = creds.merge_into("clusters", "https://10.0.0.1:6443", {"server": "https://10.0.0.1:6443"})
    assert bare["config"]["bearerToken"] == SECRET


def test_merge_into_without_an_entry_returns_an_unchanged_copy(creds: Credentials) -> None:
    body = {"url": "https://other.example.com", "nested": {"a": 1}}
    merged = creds.merge_into("repocreds", body["url"], body)
    assert merged == body and merged is not body and merged["nested"] is not body["nested"]
    with pytest.raises(ValueError, match="kind must be one of"):
        creds.merge_into("certificates", "x", {})


def test_unused_lists_entries_nobody_asked_for(creds: Credentials) -> None:
    assert len(creds.unused()) == 4
    creds.for_repository("https://git.example.com/team/app")
    creds.merge_into("repocreds", "https://git.example.com/team", {})
    creds.for_cluster("https://10.0.0.1:6443")
    assert creds.unused() == ['repositories "https://git.example.com/typo/app.git"']


def test_lookups_record_use_from_many_threads(tmp_path: Path) -> None:
    entries = "\n".join(f"  https://c{i}.example.com: {{bearerToken: t}}" for i in range(200))
    creds = load(write(tmp_path, f"clusters:\n{entries}"), env={}, fetch_secret=None)
    threads = [
        threading.Thread(target=lambda k=k: [creds.for_cluster(f"https://c{i}.example.com") for i in range(k, 200, 8)])
        for k in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert creds.unused() == []


def test_repr_and_str_list_keys_only(creds: Credentials) -> None:
    text = (
        repr(creds)
        + str(creds)
        + repr(creds.certificates())
        + repr(creds.for_repository("https://git.example.com/team/app"))
    )
    assert SECRET not in text
    assert "https://git.example.com/team/app.git" in repr(creds)
    assert "certificates=['git.example.com']" in repr(creds)


# --- AWS Secrets Manager over real HTTP (moto server mode) ------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, str], None]:
    """Point boto3's standard chain at moto; returns a function that creates a secret."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path_factory.mktemp("aws") / "none"))  # no profile region leaks in
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path_factory.mktemp("aws") / "none"))
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    client = boto3.client("secretsmanager")

    def create(secret_id: str, value: str) -> None:
        client.create_secret(Name=secret_id, SecretString=value)

    return create


def test_aws_secrets_manager_key_and_whole_string(tmp_path: Path, aws: Callable[[str, str], None]) -> None:
    aws("prod/git", json.dumps({"token": f"{SECRET}-key", "user": "bot"}))
    aws("prod/cluster", f"{SECRET}-whole")
    path = write(
        tmp_path,
        """
        repocreds:
          https://git.example.com/team:
            username: {aws-secretsmanager: prod/git, key: user}
            password: {aws-secretsmanager: prod/git, key: token}
        clusters:
          https://10.0.0.1:6443: {bearerToken: {aws-secretsmanager: prod/cluster}}
        """,
    )
    creds = load(path, env={}, fetch_secret=fetcher())
    assert creds.for_repocreds("https://git.example.com/team") == {
        "username": "bot",
        "password": Secret(f"{SECRET}-key"),
    }
    assert creds.for_cluster("https://10.0.0.1:6443") == {"bearerToken": Secret(f"{SECRET}-whole")}


def test_aws_missing_secret_is_a_clear_error(tmp_path: Path, aws: Callable[[str, str], None]) -> None:
    aws("prod/exists", SECRET)
    message = problems(
        tmp_path,
        """
        repositories:
          https://git.example.com/a.git: {password: {aws-secretsmanager: prod/missing, key: token}}
          https://git.example.com/b.git: {password: {aws-secretsmanager: prod/exists, key: token}}
        """,
        fetch=fetcher(),
    )
    assert (
        'repositories "https://git.example.com/a.git" password: AWS Secrets Manager secret prod/missing could not be '
        "read (ResourceNotFoundException); check the secret id and the region (AWS_REGION)"
    ) in message
    assert "AWS Secrets Manager secret prod/exists is not a JSON object, so it has no key token" in message


def test_aws_fetcher_raises_credential_error_naming_the_secret(aws: Callable[[str, str], None]) -> None:
    fetch = fetcher()
    with pytest.raises(CredentialError, match="secret nothing/here could not be read") as info:
        fetch("nothing/here")
    assert "secretsmanager:GetSecretValue" not in str(info.value)  # not found is not a permission problem
    aws("there", SECRET)
    assert fetch("there") == SECRET


def test_passwords_in_url_keys_are_redacted(tmp_path: Path) -> None:
    url = f"https://bot:{SECRET}@git.example.com/team/app.git"
    message = problems(
        tmp_path, f"repositories:\n  {url}: {{password: {{env: NOPE}}}}\n  {url.upper()}: {{username: x}}"
    )
    assert 'repositories "https://bot:***@git.example.com/team/app.git" password: environment variable NOPE' in message
    assert SECRET.upper() not in message
    creds = load(write(tmp_path, f"repositories: {{{url}: {{username: bot}}}}"), env={}, fetch_secret=None)
    assert SECRET not in repr(creds) + " ".join(creds.unused())
    assert creds.unused() == ['repositories "https://bot:***@git.example.com/team/app.git"']


def test_merge_into_cluster_with_a_null_config(creds: Credentials) -> None:
    merged = creds.merge_into("clusters", "https://10.0.0.1:6443", {"server": "https://10.0.0.1:6443", "config": None})
    assert merged["config"]["bearerToken"] == SECRET


def test_aws_fetcher_without_a_region_says_so(aws: Callable[[str, str], None], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(CredentialError, match="secret prod/git: no AWS region is configured; set AWS_REGION"):
        fetcher()("prod/git")


@pytest.mark.parametrize("code", ["AccessDeniedException", "KMSAccessDeniedException", "ThrottlingException"])
def test_aws_refusals_name_the_iam_permission(code: str) -> None:
    assert "secretsmanager:GetSecretValue" in _aws_hint(code)


def test_nested_section_that_is_not_a_mapping(tmp_path: Path) -> None:
    message = problems(tmp_path, "clusters: {https://c: {tlsClientConfig: yes-please}}")
    assert 'clusters "https://c" tlsClientConfig: must be a non-empty mapping' in message
