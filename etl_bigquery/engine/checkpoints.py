"""Named points in a run where a crash is most interesting (see `engine.incremental`).

Production registers nothing here, so `reached` costs a dictionary lookup. The crash-point tests
register a hook that kills the process at one of these points, to prove a re-run recovers.
"""

from __future__ import annotations

from collections.abc import Callable

EXTRACT_BATCH_STAGED = "extract.batch_staged"
LOAD_REJECTED_DONE = "load.rejected_done"
LOAD_BEFORE_SUBMIT = "load.before_submit"
LOAD_SUBMITTED = "load.submitted"
LOAD_DONE = "load.done"
# Merge and history runs (engine.merge) and files replacing their rows (engine.bigquery.replace):
# the MERGE itself passes the three load.* points above.
EXTRACT_KEYS_BATCH_STAGED = "extract.keys_batch_staged"
MERGE_STAGING_CREATED = "merge.staging_created"
MERGE_STAGING_LOADED = "merge.staging_loaded"
MERGE_STAGING_DROPPED = "merge.staging_dropped"
DELETES_KEYS_LOADED = "deletes.keys_loaded"
DELETES_SUBMITTED = "deletes.submitted"
DELETES_DONE = "deletes.done"

_hooks: dict[str, list[Callable[[], None]]] = {}


def reached(name: str) -> None:
    for hook in _hooks.get(name, ()):
        hook()


def on(name: str, hook: Callable[[], None]) -> Callable[[], None]:
    """Run `hook` whenever `name` is reached; returns a function that removes it."""
    _hooks.setdefault(name, []).append(hook)
    return lambda: _hooks[name].remove(hook)
