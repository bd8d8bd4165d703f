"""Secrets Manager values, read at run time and cached, through a client with bounded waits.

A secret has a current value (stage AWSCURRENT) and, after a rotation, a previous one (AWSPREVIOUS);
each is read once and kept for `max_age_seconds`. When a read after that gets no answer in time (a
TimeoutError: warmline.adapters.aws), the value read last is used until Secrets Manager answers
again, so its blip fails no request; a secret never read raises it (the routes answer 503).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from botocore.exceptions import ClientError

from warmline.shared_secrets import CURRENT, PREVIOUS, SecretVersion

logger = logging.getLogger(__name__)
STALE = float("-inf")  # the read time of a value to read afresh, kept for when that read fails


class SecretsManagerSecrets:
    def __init__(self, client: Any, max_age_seconds: float) -> None:
        self._client = client
        self._max_age = max_age_seconds
        self._cache: dict[tuple[str, str], tuple[float, SecretVersion | None]] = {}

    def get(self, secret_id: str) -> str:
        version = self.version(secret_id, CURRENT)
        if version is None:
            raise LookupError(f"secret {secret_id} has no current value")
        return version.value

    def version(self, secret_id: str, stage: str) -> SecretVersion | None:
        """The value at this stage (AWSCURRENT or AWSPREVIOUS), None if the secret has none there."""
        cached = self._cache.get((secret_id, stage))
        if cached is not None and time.monotonic() - cached[0] < self._max_age:
            return cached[1]
        try:
            version = self._read(secret_id, stage)
        except TimeoutError:
            if cached is None:
                raise
            logger.warning("Secrets Manager did not answer for %s: using the value read last", secret_id)
            return cached[1]
        self._cache[(secret_id, stage)] = (time.monotonic(), version)
        return version

    def forget(self, secret_id: str) -> None:
        """Read this secret afresh next time (it may have been rotated)."""
        for stage in (CURRENT, PREVIOUS):
            cached = self._cache.get((secret_id, stage))
            if cached is not None:
                self._cache[(secret_id, stage)] = (STALE, cached[1])

    def _read(self, secret_id: str, stage: str) -> SecretVersion | None:
        try:
            answer = self._client.get_secret_value(SecretId=secret_id, VersionStage=stage)
        except ClientError as error:
            if (
                stage == PREVIOUS
                and error.response.get("Error", {}).get("Code") == "ResourceNotFoundException"
            ):
                return None
            raise
        text = answer.get("SecretString")
        if text is None:
            text = answer["SecretBinary"].decode()
        created = answer.get("CreatedDate")
        return SecretVersion(text, created.timestamp() if created is not None else 0.0)
