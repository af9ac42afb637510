"""Large volumes: the extract stage as an Apache Beam pipeline (the Dataflow subflow's engine).

Prefect-free and pandas-free: workers import only this package, the readers (`engine.sources`), the
conformer (`engine.conform`), fingerprints and staging. The driver side (`engine.beam.pipeline`)
splits the read into units with the reader's own `split`, builds and runs the pipeline, and turns
what the pipeline wrote into the same `Extracted` the standard path returns, so the same load step
loads it.
"""
