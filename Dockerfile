# The flow image for the Cloud Run work pool (docs/infrastructure.md, step 7): Prefect's own image
# with the etl-bigquery wheel installed. Deployments on the Cloud Run pool name a module of the
# installed package as their entrypoint and have no pull steps, so nothing of a checkout is in
# the image or needed by it. Build the wheel first (`make wheel`), then:
#   docker build -t REGION-docker.pkg.dev/PROJECT/etl/etl-bigquery:TAG .
# Not built on the machines this project is developed on (no Docker engine there); what the image
# holds is rehearsed by tests/packaging/test_installed_wheel.py (the same wheel in a fresh
# virtualenv outside the repository, running a deployment through a process worker).
FROM prefecthq/prefect:3.8.8-python3.11

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PREFECT_SERVER_ANALYTICS_ENABLED=false

COPY requirements/constraints.txt /tmp/constraints.txt
COPY dist/*.whl /tmp/wheels/

# With the `dataflow` extra (Apache Beam): a job on the Cloud Run pool may launch a Dataflow job.
RUN pip install --no-cache-dir -c /tmp/constraints.txt "$(ls /tmp/wheels/*.whl)[dataflow]" \
    && rm -rf /tmp/wheels /tmp/constraints.txt \
    && useradd --create-home --uid 10001 etl
USER etl
WORKDIR /home/etl
