# --- where ------------------------------------------------------------------------------------

variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project this environment runs in."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region of Cloud Run (worker and flow-run jobs), Artifact Registry and Cloud Scheduler."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a region name such as europe-central2."
  }
}

variable "data_location" {
  type        = string
  description = "Location of the BigQuery datasets and of the staging and Dataflow temp buckets (EU, US or a region). One value for both, because load jobs read staged files only from a co-located bucket. Null means region."
  default     = null

  validation {
    condition     = var.data_location == null || can(regex("^(US|EU|[a-z]+-[a-z]+[0-9]+)$", coalesce(var.data_location, "EU")))
    error_message = "data_location must be US, EU or a region name such as europe-central2."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of service account IDs, bucket names and the worker service (e.g. etl, or etl-dev for a second environment in the same project)."
  default     = "etl"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels added to every labelled resource (datasets, buckets, secrets, repository, worker), e.g. env and team."
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "Label keys and values must be lower-case letters, digits, hyphens or underscores (keys start with a letter), at most 63 characters."
  }
}

# --- BigQuery ---------------------------------------------------------------------------------

variable "datasets" {
  type = map(object({
    description                 = optional(string, "Destination of the ETL loads.")
    labels                      = optional(map(string), {})
    default_table_expiration_ms = optional(number)
  }))
  description = "Destination datasets keyed by dataset ID; tables never expire unless default_table_expiration_ms is set."
  default     = { raw_data = {} }
}

variable "dataset_kms_key_name" {
  type        = string
  description = "Cloud KMS key for customer-managed encryption of the datasets, or null for Google-managed keys."
  default     = null
}

variable "dataset_delete_contents_on_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete datasets that still hold tables."
  default     = false
}

# --- buckets ----------------------------------------------------------------------------------

variable "staging_bucket_name" {
  type        = string
  description = "Name of the staging bucket; null means <project_id>-<name_prefix>-staging."
  default     = null
}

variable "dataflow_temp_bucket_name" {
  type        = string
  description = "Name of the Dataflow temp bucket; null means <project_id>-<name_prefix>-dataflow-temp."
  default     = null
}

variable "staging_retention_days" {
  type        = number
  description = "Days after which staged load files are deleted."
  default     = 7
}

variable "dataflow_temp_retention_days" {
  type        = number
  description = "Days after which Dataflow temp files are deleted."
  default     = 3
}

variable "bucket_versioning_enabled" {
  type        = bool
  description = "Turn on object versioning on the staging and Dataflow temp buckets."
  default     = false
}

variable "bucket_access_log_bucket" {
  type        = string
  description = "Existing bucket receiving usage logs of both buckets, or null."
  default     = null
}

variable "bucket_force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete the buckets while they hold objects."
  default     = false
}

variable "source_bucket_names" {
  type        = set(string)
  description = "Existing GCS buckets that file jobs read from; the runner gets object viewer on each."
  default     = []
}

variable "enable_dataflow" {
  type        = bool
  description = "Provision what the Dataflow subflow needs: a worker service account and the runner's right to launch jobs as it."
  default     = true
}

# --- secrets ----------------------------------------------------------------------------------

variable "secrets" {
  type = map(object({
    accessors = optional(list(string), ["runner"])
    labels    = optional(map(string), {})
  }))
  description = "Secret Manager secrets for connection credentials, keyed by secret ID. accessors name who may read it: runner, worker, dataflow. Values are added with gcloud (see README)."
  default     = {}
}

variable "secret_replica_locations" {
  type        = list(string)
  description = "Regions for user-managed replication of the secrets; empty means automatic replication."
  default     = []
}

# --- Prefect ----------------------------------------------------------------------------------

variable "prefect_api_url" {
  type        = string
  description = "Prefect API URL: https://api.prefect.cloud/api/accounts/<account>/workspaces/<workspace> or https://<your server>/api."

  validation {
    condition     = can(regex("^https://[^/]+/.*api", var.prefect_api_url))
    error_message = "prefect_api_url must be an https URL of the Prefect API (it contains /api)."
  }
}

variable "prefect_api_key_secret" {
  type        = string
  description = "ID of the Secret Manager secret holding the Prefect API key (created here, readable by the worker and the runner). Null for a self-hosted server without API keys."
  default     = "prefect-api-key"
}

variable "work_pool_name" {
  type        = string
  description = "Name of the Prefect work pool (type cloud-run-v2) the deployments use."
  default     = "etl-cloud-run"
}

variable "deploy_worker" {
  type        = bool
  description = "Run the Prefect worker as a Cloud Run service. Set false for the first apply (before the Prefect API key has a value) and when the worker runs elsewhere."
  default     = true
}

variable "worker_image" {
  type        = string
  description = "Image of the Prefect worker service."
  default     = "docker.io/prefecthq/prefect:3.8.8-python3.11"
}

variable "worker_deletion_protection" {
  type        = bool
  description = "Protect the worker service from deletion; set false and apply before destroying."
  default     = true
}

# --- Cloud Scheduler --------------------------------------------------------------------------

variable "scheduled_jobs" {
  type = map(object({
    cron            = string
    time_zone       = optional(string, "UTC")
    paused          = optional(bool, false)
    deployment_name = string
    deployment_id   = string
  }))
  # No default on purpose: a run without the generated file must not plan to delete every
  # scheduler job. Pass {} explicitly when Prefect drives all schedules.
  description = "Jobs whose schedule Cloud Scheduler drives, keyed by job name; normally generated into scheduled_jobs.auto.tfvars.json (format in README). {} when Prefect's own schedules drive every job."
}

variable "scheduler_auth_mode" {
  type        = string
  description = "How Cloud Scheduler authenticates to the Prefect API: api_key (Prefect Cloud; the key from prefect_api_key_secret) or oidc (self-hosted server behind Cloud Run IAM or IAP)."
  default     = "api_key"

  validation {
    condition     = contains(["api_key", "oidc"], var.scheduler_auth_mode)
    error_message = "scheduler_auth_mode must be api_key or oidc."
  }
}

variable "scheduler_oidc_audience" {
  type        = string
  description = "OIDC audience for oidc mode; null means the scheme and host of prefect_api_url (what Cloud Run expects). For IAP, the IAP OAuth client ID."
  default     = null
}

variable "prefect_server_run_service" {
  type = object({
    name     = string
    location = string
  })
  description = "With oidc mode, the Cloud Run service of the self-hosted Prefect server; the scheduler invoker gets roles/run.invoker on it. Null when the server is not on Cloud Run."
  default     = null
}

variable "scheduler_retry" {
  type = object({
    retry_count          = optional(number, 3)
    min_backoff_duration = optional(string, "10s")
    max_backoff_duration = optional(string, "300s")
    max_doublings        = optional(number, 3)
    max_retry_duration   = optional(string, "0s")
  })
  description = "Retry policy of the scheduler jobs when the Prefect API does not answer 2xx."
  default     = {}
}
