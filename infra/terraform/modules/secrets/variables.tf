variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project that holds the secrets."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "secrets" {
  type = map(object({
    # Keys of accessor_service_accounts that may read this secret's versions.
    accessors = optional(list(string), ["runner"])
    labels    = optional(map(string), {})
  }))
  description = "Secret containers keyed by secret ID (connection passwords, service-account keys, the Prefect API key). Created empty: values are added outside Terraform (gcloud secrets versions add), never through its state."
  default     = {}

  validation {
    condition     = alltrue([for id in keys(var.secrets) : can(regex("^[A-Za-z0-9_-]{1,255}$", id))])
    error_message = "Secret IDs may contain letters, digits, hyphens and underscores only, at most 255 characters."
  }

  validation {
    condition     = alltrue([for s in values(var.secrets) : length(s.accessors) > 0])
    error_message = "Every secret needs at least one accessor, or nothing can read it."
  }
}

variable "accessor_service_accounts" {
  type        = map(string)
  description = "Service account emails that secrets may name as accessors, keyed by a short role name (runner, worker, dataflow)."

  validation {
    condition     = alltrue([for k in keys(var.accessor_service_accounts) : can(regex("^[a-z][a-z0-9_]*$", k))])
    error_message = "Accessor keys must be short lower-case names such as runner or worker."
  }
}

variable "replica_locations" {
  type        = list(string)
  description = "Regions to replicate secrets to (user-managed replication, for data residency); empty means automatic replication."
  default     = []

  validation {
    condition     = alltrue([for l in var.replica_locations : can(regex("^[a-z]+-[a-z]+[0-9]+$", l))])
    error_message = "replica_locations must be region names such as europe-central2."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels put on every secret, merged under each secret's own labels."
  default     = {}
}
