variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project that holds the destination datasets."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "location" {
  type        = string
  description = "BigQuery location of the datasets (a multi-region such as EU or US, or a region such as europe-central2). Load jobs need the staging bucket in the same location."

  validation {
    condition     = can(regex("^(US|EU|[a-z]+-[a-z]+[0-9]+)$", var.location))
    error_message = "location must be US, EU or a region name such as europe-central2."
  }
}

variable "datasets" {
  type = map(object({
    description = optional(string, "Destination of the ETL loads.")
    labels      = optional(map(string), {})
    # null keeps tables forever: an ETL destination must not lose tables to a default expiration.
    default_table_expiration_ms = optional(number)
  }))
  description = "Destination datasets keyed by dataset ID. The ETL's default dataset is raw_data."
  default     = { raw_data = {} }

  validation {
    condition     = alltrue([for id in keys(var.datasets) : can(regex("^[A-Za-z_][A-Za-z0-9_]{0,1023}$", id))])
    error_message = "Dataset IDs may contain letters, digits and underscores only, at most 1024 characters."
  }

  validation {
    condition = alltrue([
      for d in values(var.datasets) :
      d.default_table_expiration_ms == null ? true : d.default_table_expiration_ms >= 3600000
    ])
    error_message = "default_table_expiration_ms must be null (no expiration) or at least 3600000 (one hour)."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels put on every dataset, merged under each dataset's own labels."
  default     = {}
}

variable "runner_service_account_email" {
  type        = string
  description = "Email of the ETL runner; it gets roles/bigquery.dataEditor on each dataset (not on the project)."
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key for customer-managed encryption of new tables, or null for Google-managed keys."
  default     = null
}

variable "delete_contents_on_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete datasets that still hold tables. Off: loaded data outlives the infrastructure code."
  default     = false
}
