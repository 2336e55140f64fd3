"""S3 fixtures: moto's ThreadedMotoServer over real HTTP, with boto3's environment pointed at it.

The server speaks every AWS service moto knows (S3, Secrets Manager, KMS, ...) on one endpoint, so any
`boto3.session.Session().client(...)` created while `s3_server` is active talks to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

#: Variables that could point boto3 away from the test server (a developer's profile, a real endpoint).
_CLEARED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server on 127.0.0.1 (a free port), with the AWS_* environment set for it; yields the endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    nowhere = Path(tmp_path_factory.mktemp("aws")) / "absent"
    with pytest.MonkeyPatch.context() as env:
        for name in _CLEARED:
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_REGION", "us-east-1")
        env.setenv("AWS_ENDPOINT_URL", endpoint)
        env.setenv("AWS_CONFIG_FILE", str(nowhere))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        try:
            yield endpoint
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_server: str):  # noqa: ANN201 - a botocore client has no importable type
    """A plain boto3 S3 client on the test server, for arranging and inspecting buckets (made once: it is slow)."""
    return boto3.session.Session().client("s3", endpoint_url=s3_server)


@pytest.fixture
def s3_bucket(s3_client) -> str:  # noqa: ANN001
    """A fresh, empty, uniquely named bucket on the test server; yields its name."""
    name = f"drkit-test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    return name
