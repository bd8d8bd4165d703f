"""Register a caller's voice sample on a running local stack (described by its local.json)."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from warmline.adapters.dynamodb import DynamoCloneStore
from warmline.adapters.s3 import S3SampleStore
from warmline.callers import caller_key, mask, normalise_number
from warmline.clone_state import CallerProfile

from local import aws


def register_caller(state: dict[str, Any], number: str, files: list[Path], consent: str) -> str:
    endpoint = state["aws_endpoint_url"]
    normalised = normalise_number(number)
    key = caller_key(normalised, state["secrets"]["CallerKeySecret"])
    samples = S3SampleStore(aws.client("s3", endpoint), state["resources"]["buckets"]["SamplesBucket"])
    keys = tuple(
        samples.write(key, path.name, path.read_bytes(), mimetypes.guess_type(path.name)[0] or "audio/mpeg")
        for path in files
    )
    store = DynamoCloneStore(aws.client("dynamodb", endpoint), state["resources"]["tables"]["CloneTable"])
    store.save_profile(CallerProfile(key, keys, consent, mask(normalised), 0))
    return key
