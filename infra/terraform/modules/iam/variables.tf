variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project the service accounts live in."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "project_number" {
  type        = string
  description = "Number of the same project; names the Cloud Scheduler service agent (service-<number>@gcp-sa-cloudscheduler.iam.gserviceaccount.com)."

  validation {
    condition     = can(regex("^[0-9]{6,20}$", var.project_number))
    error_message = "project_number must be the numeric project number, not the project ID."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every service account ID (<prefix>-runner, <prefix>-worker, <prefix>-scheduler, <prefix>-dataflow)."
  default     = "etl"

  validation {
    # The longest suffix is "-scheduler" (10 characters); account IDs are at most 30.
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "enable_dataflow" {
  type        = bool
  description = "Create the Dataflow worker service account and give the runner the right to launch Dataflow jobs as it (SPEC section 5)."
  default     = true
}

variable "enable_scheduler_invoker" {
  type        = bool
  description = "Create the account Cloud Scheduler's calls run as (oidc mode, or api_key mode with scheduled jobs) and let Cloud Scheduler's service agent mint its tokens."
  default     = false
}

variable "enable_scheduler_oidc" {
  type        = bool
  description = "Create the scheduler invoker service account whose OIDC tokens Cloud Scheduler sends to a self-hosted Prefect server, and let the Cloud Scheduler service agent mint them."
  default     = false
}

variable "prefect_server_run_service" {
  type = object({
    name     = string
    location = string
  })
  description = "Self-hosted Prefect server running as a Cloud Run service that requires authentication; the scheduler invoker gets roles/run.invoker on it. Null when the server is elsewhere (Prefect Cloud, GKE, a VM)."
  default     = null
}
