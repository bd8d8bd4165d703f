"""Secrets Manager values, read at run time and cached (Powertools Parameters)."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters


class SecretsManagerSecrets:
    def __init__(self, max_age_seconds: int) -> None:
        self._max_age = max_age_seconds

    def get(self, secret_id: str) -> str:
        value = parameters.get_secret(secret_id, max_age=self._max_age)
        if isinstance(value, bytes):
            return value.decode()
        return str(value)
