variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project the Cloud Scheduler jobs live in."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Cloud Scheduler location (a region such as europe-central2)."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a region name such as europe-central2."
  }
}

variable "jobs" {
  type = map(object({
    cron            = string
    time_zone       = optional(string, "UTC")
    paused          = optional(bool, false)
    deployment_name = string
    deployment_id   = string
  }))
  description = "Scheduled ETL jobs keyed by job name, as generated into scheduled_jobs.auto.tfvars.json from the deployments (see the root README). Each becomes the Cloud Scheduler job etl-job-<name>."

  validation {
    # Cloud Scheduler job IDs allow letters, digits, hyphens and underscores, at most 500
    # characters; "etl-job-" takes 8 of them.
    condition     = alltrue([for name in keys(var.jobs) : can(regex("^[A-Za-z0-9_-]{1,492}$", name))])
    error_message = "Job names may contain letters, digits, hyphens and underscores only (they become etl-job-<name>)."
  }

  validation {
    condition     = alltrue([for j in values(var.jobs) : length(split(" ", trimspace(j.cron))) == 5])
    error_message = "cron must be a five-field unix-cron expression such as \"0 9 * * *\"."
  }

  validation {
    condition = alltrue([
      for j in values(var.jobs) :
      can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", lower(j.deployment_id)))
    ])
    error_message = "deployment_id must be the Prefect deployment's UUID (prefect deployment inspect <flow>/<deployment>)."
  }

  validation {
    condition     = alltrue([for j in values(var.jobs) : can(regex("^[^/]+/[^/]+$", j.deployment_name))])
    error_message = "deployment_name must be <flow name>/<deployment name>."
  }

  validation {
    condition     = alltrue([for j in values(var.jobs) : can(regex("^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$", j.time_zone))])
    error_message = "time_zone must be an IANA time zone name such as UTC or Europe/Warsaw."
  }
}

variable "prefect_api_url" {
  type        = string
  description = "Prefect API base URL: https://api.prefect.cloud/api/accounts/<account>/workspaces/<workspace> for Prefect Cloud, https://<host>/api for a self-hosted server."

  validation {
    condition     = can(regex("^https://[^/]+/.*api", var.prefect_api_url))
    error_message = "prefect_api_url must be an https URL of the Prefect API (it contains /api)."
  }
}

variable "auth" {
  type = object({
    # "api_key": Prefect Cloud (or a server behind a gateway that takes a bearer key), the key kept
    # in Secret Manager and read by the trigger job. "oidc": a self-hosted server behind Cloud Run
    # IAM or IAP.
    mode              = string
    api_key_secret_id = optional(string)
    # The account Cloud Scheduler's calls run as: OIDC tokens (oidc) or OAuth tokens that run the
    # trigger job (api_key).
    invoker_service_account_email = optional(string)
    # Defaults to the scheme and host of prefect_api_url, which is what Cloud Run checks.
    oidc_audience = optional(string)
  })
  description = "How Cloud Scheduler authenticates to the Prefect API."

  validation {
    condition     = contains(["api_key", "oidc"], var.auth.mode)
    error_message = "auth.mode must be api_key or oidc."
  }

  validation {
    condition     = var.auth.invoker_service_account_email != null || var.auth.mode == "api_key"
    error_message = "auth.mode oidc needs auth.invoker_service_account_email, the scheduler invoker service account."
  }
}

variable "retry" {
  type = object({
    retry_count          = optional(number, 3)
    min_backoff_duration = optional(string, "10s")
    max_backoff_duration = optional(string, "300s")
    max_doublings        = optional(number, 3)
    max_retry_duration   = optional(string, "0s")
  })
  description = "Retries when the Prefect API does not answer 2xx. A retried request may create a second flow run; the deployment's concurrency limit and the loader's exactly-once protocol make that harmless."
  default     = {}

  validation {
    condition     = var.retry.retry_count >= 0 && var.retry.retry_count <= 5
    error_message = "retry.retry_count must be between 0 and 5."
  }
}

variable "attempt_deadline" {
  type        = string
  description = "How long Cloud Scheduler waits for the Prefect API to answer one attempt (15s to 1800s). Creating a flow run answers in well under a second."
  default     = "60s"

  validation {
    # try(): Terraform does not short-circuit &&, so a malformed value must not reach tonumber.
    condition     = try(tonumber(trimsuffix(var.attempt_deadline, "s")) >= 15 && tonumber(trimsuffix(var.attempt_deadline, "s")) <= 1800 && can(regex("^[0-9]+s$", var.attempt_deadline)), false)
    error_message = "attempt_deadline must be a duration in seconds between 15s and 1800s, such as 60s."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the trigger job's name (<prefix>-schedule-trigger)."
  default     = "etl"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the trigger job."
  default     = {}
}

variable "trigger_service_account_email" {
  type        = string
  description = "Service account the trigger job runs as (api_key mode): it must be an accessor of the Prefect API key secret. The root passes the worker's, which already is."
  default     = null
}

variable "trigger_image" {
  type        = string
  description = "Image of the trigger job (api_key mode): anything with the prefect CLI."
  default     = "docker.io/prefecthq/prefect:3.8.8-python3.11"
}
