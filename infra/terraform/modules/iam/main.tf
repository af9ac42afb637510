# Service accounts and the bindings that are not tied to one data resource. Bindings on datasets,
# buckets and secrets live in the module that owns the resource, so each grant is next to the
# thing it opens. Every binding is additive (`_iam_member`): this configuration never takes
# access away from principals it does not manage.

locals {
  runner_member = "serviceAccount:${google_service_account.runner.email}"
  worker_member = "serviceAccount:${google_service_account.worker.email}"
  # Cloud Scheduler's Google-managed service agent. It, not the invoker account, signs the OIDC
  # token, so it needs token-creator on the invoker (the predecessor's 401 fix).
  scheduler_service_agent = "serviceAccount:service-${var.project_number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
}

resource "google_service_account" "runner" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-runner"
  display_name = "ETL runner"
  description  = "Runs the ETL flow runs (Cloud Run jobs of the Prefect work pool): reads sources, stages files, loads BigQuery."
}

resource "google_service_account" "worker" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-worker"
  display_name = "ETL Prefect worker"
  description  = "Runs the Prefect worker that polls the Cloud Run work pool and starts one Cloud Run job per flow run."
}

resource "google_service_account" "scheduler_invoker" {
  count = var.enable_scheduler_invoker ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "ETL scheduler invoker"
  description  = "Identity of Cloud Scheduler's calls: OIDC tokens to a self-hosted Prefect server, or OAuth tokens that run the schedule trigger job (api_key mode)."
}

resource "google_service_account" "dataflow" {
  count = var.enable_dataflow ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name_prefix}-dataflow"
  display_name = "ETL Dataflow worker"
  description  = "Identity of the Dataflow worker VMs of the large-volume subflow."
}

# --- runner -----------------------------------------------------------------------------------

# BigQuery jobs (loads, queries) belong to a project, not a dataset, so this role can only be
# granted on the project. It lets the runner run jobs; what data they touch is governed by the
# dataset-level dataEditor grant in the bigquery module.
resource "google_project_iam_member" "runner_bigquery_job_user" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = local.runner_member
}

# Dataflow jobs are project resources too. Needed only by the Dataflow subflow (SPEC section 5).
resource "google_project_iam_member" "runner_dataflow_developer" {
  #checkov:skip=CKV_GCP_49:Launching Dataflow jobs needs roles/dataflow.developer on the project (jobs are project resources). Jobs can only run as the Dataflow worker account, the one account the runner has actAs on.
  count = var.enable_dataflow ? 1 : 0

  project = var.project_id
  role    = "roles/dataflow.developer"
  member  = local.runner_member
}

# Launching a Dataflow job that runs as the Dataflow account requires actAs on that one account,
# granted on the account itself rather than project-wide.
resource "google_service_account_iam_member" "runner_acts_as_dataflow" {
  count = var.enable_dataflow ? 1 : 0

  service_account_id = google_service_account.dataflow[0].name
  role               = "roles/iam.serviceAccountUser"
  member             = local.runner_member
}

# --- Dataflow worker VMs ------------------------------------------------------------------------

resource "google_project_iam_member" "dataflow_worker" {
  count = var.enable_dataflow ? 1 : 0

  project = var.project_id
  role    = "roles/dataflow.worker"
  member  = "serviceAccount:${google_service_account.dataflow[0].email}"
}

# --- Prefect worker -----------------------------------------------------------------------------

# The Cloud Run worker creates, runs and deletes one Cloud Run job per flow run. Job names are
# chosen at run time (flow-run name + random suffix), so no binding on named jobs can exist
# before them; instead of roles/run.developer (which also deploys and updates services and
# updates any job), a custom role holds exactly the calls prefect-gcp's cloud-run-v2 worker makes:
# jobs.create/get/run/delete, executions.get/list/delete (it deletes a job's executions first).
resource "google_project_iam_custom_role" "worker_cloud_run_jobs" {
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_worker_run_jobs"
  title       = "ETL Prefect worker: flow-run Cloud Run jobs"
  description = "Create, run, watch and delete the Cloud Run job of each flow run; nothing about services, IAM or other resources."
  permissions = [
    "run.executions.delete",
    "run.executions.get",
    "run.executions.list",
    "run.jobs.create",
    "run.jobs.delete",
    "run.jobs.get",
    "run.jobs.run",
    "run.operations.get",
  ]
}

resource "google_project_iam_member" "worker_run_jobs" {
  project = var.project_id
  role    = google_project_iam_custom_role.worker_cloud_run_jobs.id
  member  = local.worker_member
}

# The Cloud Run jobs run as the runner; creating them requires actAs on the runner only.
resource "google_service_account_iam_member" "worker_acts_as_runner" {
  service_account_id = google_service_account.runner.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.worker_member
}

# --- Cloud Scheduler (OIDC to a self-hosted Prefect server, OAuth to the trigger job) -------------

resource "google_service_account_iam_member" "scheduler_agent_token_creator" {
  count = var.enable_scheduler_invoker ? 1 : 0

  service_account_id = google_service_account.scheduler_invoker[0].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.scheduler_service_agent
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_prefect_server" {
  count = var.enable_scheduler_invoker && var.enable_scheduler_oidc && var.prefect_server_run_service != null ? 1 : 0

  project  = var.project_id
  location = var.prefect_server_run_service.location
  name     = var.prefect_server_run_service.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler_invoker[0].email}"
}
