"""AWS Secrets Manager, the source behind `{aws-secretsmanager: ID, key: FIELD}` credentials references.

With store.py, the only module that imports boto3; the import waits until a reference needs it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from drkit.errors import CredentialError


def fetcher() -> Callable[[str], str]:
    """A `fetch_secret` reading AWS Secrets Manager through boto3's standard chain; the client is made on first use."""
    client: list[Any] = []
    lock = threading.Lock()

    def fetch(secret_id: str) -> str:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

        name = f"AWS Secrets Manager secret {secret_id}"
        try:
            with lock:
                if not client:
                    client.append(boto3.client("secretsmanager"))
            answer = client[0].get_secret_value(SecretId=secret_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise CredentialError(f"{name} could not be read ({code})", hint=_aws_hint(code)) from None
        except NoRegionError:
            raise CredentialError(f"{name}: no AWS region is configured", hint="set AWS_REGION") from None
        except NoCredentialsError:
            hint = "set AWS_PROFILE or the AWS_* variables, or give the pod an IAM role (IRSA)"
            raise CredentialError(f"{name}: no AWS credentials were found", hint=hint) from None
        except BotoCoreError as exc:
            hint = "check the network, AWS_REGION and AWS_ENDPOINT_URL"
            raise CredentialError(f"{name} could not be read ({type(exc).__name__})", hint=hint) from None
        if "SecretString" not in answer:
            raise CredentialError(f"{name} holds binary data, not a string", hint="store it as a SecretString")
        return answer["SecretString"]

    return fetch


def _aws_hint(code: str) -> str:
    """The next step for a Secrets Manager error code."""
    if code == "ResourceNotFoundException":
        return "check the secret id and the region (AWS_REGION)"
    if code in ("AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "KMSAccessDeniedException"):
        return "grant secretsmanager:GetSecretValue on it (and kms:Decrypt for its key) to the role drkit runs as"
    return "check the secret id, the region (AWS_REGION) and the IAM permission secretsmanager:GetSecretValue"
