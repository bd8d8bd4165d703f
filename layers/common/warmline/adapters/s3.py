"""Callers' voice samples in S3, under samples/<caller key>/."""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from warmline.voice_provider import VoiceSample


def sample_key(caller_key: str, filename: str) -> str:
    return f"samples/{caller_key}/{PurePosixPath(filename).name}"


class S3SampleStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def read(self, keys: tuple[str, ...]) -> list[VoiceSample]:
        samples = []
        for key in keys:
            try:
                response = self._client.get_object(Bucket=self._bucket, Key=key)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise KeyError(key) from error
                raise
            filename = PurePosixPath(key).name
            content_type = response.get("ContentType") or mimetypes.guess_type(filename)[0] or "audio/mpeg"
            samples.append(VoiceSample(filename, response["Body"].read(), content_type))
        return samples

    def write(self, caller_key: str, filename: str, content: bytes, content_type: str) -> str:
        key = sample_key(caller_key, filename)
        self._client.put_object(Bucket=self._bucket, Key=key, Body=content, ContentType=content_type)
        return key

    def delete(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            self._client.delete_object(Bucket=self._bucket, Key=key)
