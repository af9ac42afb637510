"""Current-state tables: `load_type: merge` and `load_type: history`, and deletes by key.

The protocol is the one of every load (`engine.incremental`): the destination is the only state,
read in ONE query; a token of that state names the job that changes it; BigQuery refuses a
second job with the same id. What differs: the step that changes the target is a MERGE query job
fed by a run-scoped staging table.

1. **Plan** (validation, `strategy.KeyedStrategy.plan`): one query returns the watermark `W`, the
   row count, the table clock `L` (latest stamp) and live rows, and the window (key hash, row
   hash, cursor, stamp, deleted) of every row with cursor ≥ `W - lookback` (`window`). The token
   `(W, n, L, live)` names the MERGE `etl_<job>_<hash(table, token)>_<attempt>`, its staging
   table `_etl_stage_<job>_<hash>_<attempt>` and the staging load `<merge id>_stage`. Jobs left
   from the same token are settled with both ids as probes: one running is waited for, then
   planning starts over from the state it produced; a failed MERGE, or a staging load without a
   MERGE (a killed run), spends the attempt. The run's stamp is `max(run start, L + 1 µs)`.
2. **Extract** rows with cursor ≥ `W - lookback` and stage only versions that win against the
   table (`keyed_filter`); then, when a delete check is due, the source's keys (`deletes`).
3. **Apply** (`apply`): rejected rows first; staging table; plan query (`O + N` partitions,
   non-unique keys refused); ONE MERGE with the literal partition filter; staging dropped; then
   the delete check's own MERGE. Every staged row wins, so every MERGE moves `L`: the next run
   tells a landed MERGE (state moved) from a failed one (state unchanged: attempt spent).

Versions are ordered by `(cursor, _etl_loaded_at, _etl_row_hash)`; the MERGE keeps the greatest
per key, so applying it twice, or two increments in either order, gives the same table.

Crash points (`engine.checkpoints`; tests/integration/test_exactly_once_merge.py, tests/faults/)
and what the next run does:
- `extract.batch_staged`, `extract.keys_batch_staged`: nothing in BigQuery; a normal run.
- `merge.staging_created`: an empty staging table; probes find nothing, the same attempt reuses
  it (`exists_ok`, `WRITE_TRUNCATE`).
- `merge.staging_loaded`, `load.before_submit`: staging loaded, no MERGE; the attempt is spent,
  the next uses attempt + 1 and drops the leftover.
- `load.submitted`: the MERGE may still commit; the next run waits for it, plans from the new state.
- `load.done`, `merge.staging_dropped`: merged; leftovers dropped by the next run.
- `deletes.keys_loaded`: keys table, no delete MERGE; this period's attempt is spent, the next
  run checks again. `deletes.submitted`: waited for. `deletes.done`: checked.
Staging tables also expire after 24 h.

Out of reach: versions between two runs (two updates of a key between runs are one version);
rows committed later than the lookback; a key deleted and re-inserted between two delete checks
(seen as an update); deletions are dated when a check noticed them.
"""
