variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project the work pool's Cloud Run jobs run in."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region of the Artifact Registry repository, the worker service and the work pool's Cloud Run jobs."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a region name such as europe-central2."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the repository and worker service names."
  default     = "etl"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the repository and the worker service."
  default     = {}
}

variable "image_retention" {
  type = object({
    keep_recent_versions = optional(number, 10)
    untagged_max_age     = optional(string, "2592000s")
  })
  description = "Artifact Registry cleanup: keep this many most recent versions of each image; delete untagged versions older than untagged_max_age."
  default     = {}

  validation {
    condition     = var.image_retention.keep_recent_versions >= 1
    error_message = "image_retention.keep_recent_versions must be at least 1, or the image a deployment points at could be deleted."
  }
}

variable "deploy_worker" {
  type        = bool
  description = "Run the Prefect worker as a Cloud Run service. Off when the worker runs elsewhere (GKE, a VM) or when the pool is a Prefect Cloud push pool (cloud-run-v2:push) that needs no worker."
  default     = true
}

variable "worker_service_account_email" {
  type        = string
  description = "Email of the Prefect worker service account (the service runs as it)."
}

variable "work_pool_name" {
  type        = string
  description = "Name of the Prefect work pool of type cloud-run-v2 the worker polls (created with `prefect work-pool create`, see the root README)."
  default     = "etl-cloud-run"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_. -]{0,127}$", var.work_pool_name))
    error_message = "work_pool_name must be a Prefect work pool name (letters, digits, spaces, dots, hyphens, underscores)."
  }
}

variable "prefect_api_url" {
  type        = string
  description = "Prefect API URL the worker talks to."

  validation {
    condition     = can(regex("^https?://[^/]+/.*api", var.prefect_api_url))
    error_message = "prefect_api_url must be an http(s) URL of the Prefect API (it contains /api)."
  }
}

variable "prefect_api_key_secret_id" {
  type        = string
  description = "Secret Manager secret ID (short name) holding the Prefect API key, mounted as PREFECT_API_KEY; null for a self-hosted server without API keys."
  default     = null
}

variable "worker_image" {
  type        = string
  description = "Image of the worker. Prefect's public image is enough: the worker only needs prefect and prefect-gcp (installed at start through EXTRA_PIP_PACKAGES); flow code runs in the flow image."
  default     = "docker.io/prefecthq/prefect:3.8.8-python3.11"
}

variable "prefect_gcp_version" {
  type        = string
  description = "prefect-gcp version installed into the worker image at start; keep it equal to the flow image's."
  default     = "0.6.22"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.prefect_gcp_version))
    error_message = "prefect_gcp_version must be an exact version such as 0.6.22."
  }
}

variable "worker_resources" {
  type = object({
    cpu    = optional(string, "1")
    memory = optional(string, "1Gi")
  })
  description = "CPU and memory of the worker container. The worker only polls and submits jobs."
  default     = {}
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to delete the worker service on `terraform destroy` until this is set to false and applied."
  default     = true
}
