"""The web console: what an ETL operator asks that the Prefect UI does not answer (run KPIs,
stage bars, scheduled jobs, connection health, the job wizard).

It reads only the Prefect API and the project's job model, and acts only through the functions the
`etl` command uses (service.jobs, service.discovery, service.connections). `etl console` serves it.
"""
