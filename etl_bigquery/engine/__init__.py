"""The engine: what happens to the data. Importable without Prefect (Beam workers use it)."""
