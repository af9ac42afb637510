# The flow image for the Cloud Run work pool (docs/infrastructure.md, step 7). Not built on the
# machines this project is developed on (no Docker engine there): build it where Docker runs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
WORKDIR /opt/etl

COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
COPY etl etl
COPY blocks blocks
COPY flows flows
COPY cli cli
COPY localservices localservices
COPY prefect.yaml prefect.yaml

RUN pip install --no-cache-dir -c requirements/constraints.txt . \
    && useradd --create-home --uid 10001 etl
USER etl
