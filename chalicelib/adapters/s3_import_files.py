"""ImportFiles on S3: the bodies of import requests and the files uploaded through presigned POSTs, in one bucket
(private, encrypted, expired by its lifecycle rule; infra/stack.py).

The client is built on first use (`client` is a factory): only imports pay for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import StoreUnavailable
from chalicelib.domain.imports import ImportFileMissing, UploadForm

#: S3's answers for a key that is not there (HeadObject has no body, so only its status).
_MISSING = frozenset({"NoSuchKey", "NotFound", "404"})


class S3ImportFiles:
    """The production ImportFiles: `client()` gives a boto3 S3 client (SigV4, for presigned POSTs)."""

    def __init__(self, client: Callable[[], Any], bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, data: bytes) -> None:
        """Store the file (the bucket encrypts it by default)."""
        try:
            self._client().put_object(Bucket=self._bucket, Key=key, Body=data, ContentType="text/csv")
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(f"could not keep the import's file: {error}") from error

    def size(self, key: str) -> int | None:
        """The file's size; None when there is no such file."""
        try:
            head = self._client().head_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise StoreUnavailable(f"could not find the import's file: {error}") from error
        except BotoCoreError as error:
            raise StoreUnavailable(f"could not find the import's file: {error}") from error
        return int(head["ContentLength"])

    def read(self, key: str, start: int, length: int) -> bytes:
        """Up to `length` bytes from `start` (a ranged GET); b"" past the end; ImportFileMissing when it is gone."""
        if length <= 0:
            return b""
        try:
            byte_range = f"bytes={start}-{start + length - 1}"
            answer = self._client().get_object(Bucket=self._bucket, Key=key, Range=byte_range)
            data: bytes = answer["Body"].read()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in _MISSING:
                raise ImportFileMissing(key) from None
            if code == "InvalidRange":
                return b""
            raise StoreUnavailable(f"could not read the import's file: {error}") from error
        except BotoCoreError as error:
            raise StoreUnavailable(f"could not read the import's file: {error}") from error
        return data

    def upload_form(self, key: str, max_bytes: int, expires_in: int) -> UploadForm:
        """A presigned POST for exactly `key`, 1 to `max_bytes` bytes (signed here: no request to S3)."""
        try:
            post = self._client().generate_presigned_post(
                Bucket=self._bucket,
                Key=key,
                Conditions=[["content-length-range", 1, max_bytes]],
                ExpiresIn=expires_in,
            )
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(f"could not sign an upload: {error}") from error
        return UploadForm(url=post["url"], fields={name: str(value) for name, value in post["fields"].items()})
