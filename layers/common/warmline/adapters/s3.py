"""Callers' voice samples in S3, under samples/<caller key>/ (a versioned bucket: a caller's
samples are gone only when every version of them is)."""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from warmline.ports import SampleVersion, StoredSample
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

    def copy(self, key: str, caller_key: str) -> str:
        new_key = sample_key(caller_key, key)
        self._client.copy_object(
            Bucket=self._bucket, Key=new_key, CopySource={"Bucket": self._bucket, "Key": key}
        )
        return new_key

    def describe(self, keys: tuple[str, ...]) -> list[StoredSample]:
        described = []
        for key in keys:
            try:
                head = self._client.head_object(Bucket=self._bucket, Key=key)
            except ClientError:
                described.append(StoredSample(key, None))  # missing from the bucket
                continue
            described.append(StoredSample(key, head["ContentLength"], head.get("ContentType")))
        return described

    def versions(self, caller_key: str) -> list[SampleVersion]:
        return [version for _, version in self._versions(f"samples/{caller_key}/")]

    def delete_versions(self, versions: list[SampleVersion]) -> None:
        objects = [{"Key": version.key, "VersionId": version.version_id} for version in versions]
        for start in range(0, len(objects), 1000):
            self._client.delete_objects(
                Bucket=self._bucket, Delete={"Objects": objects[start : start + 1000], "Quiet": True}
            )

    def holder_keys(self) -> list[str]:
        return sorted({caller_key for caller_key, _ in self._versions("samples/")})

    def _versions(self, prefix: str) -> list[tuple[str, SampleVersion]]:
        """(caller key, version) of every object version and delete marker under `prefix`."""
        found = []
        pages = self._client.get_paginator("list_object_versions").paginate(
            Bucket=self._bucket, Prefix=prefix
        )
        for page in pages:
            for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
                version = SampleVersion(entry["Key"], entry["VersionId"])
                found.append((entry["Key"].split("/")[1], version))
        return found
