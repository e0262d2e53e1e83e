"""Editing a checkpoint file as an adversary would: its metadata rewritten in place."""

import json

import numpy as np


def edit_meta(ck, change) -> None:
    """Apply ``change`` to the metadata (a dict) of checkpoint ``ck`` and write the file back."""
    with np.load(ck) as stored:
        arrays = {name: stored[name] for name in stored.files}
    meta = json.loads(str(arrays["meta"]))
    change(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    with open(ck, "wb") as f:
        np.savez(f, **arrays)
