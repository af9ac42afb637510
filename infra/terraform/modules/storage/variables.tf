variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project that owns the staging and Dataflow temp buckets."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID: 6-30 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "location" {
  type        = string
  description = "Bucket location. Use the BigQuery dataset location (EU, US or the same region): load jobs read staged files only from a co-located bucket."

  validation {
    condition     = can(regex("^(US|EU|ASIA|[A-Za-z]+-[A-Za-z]+[0-9]+)$", var.location))
    error_message = "location must be a multi-region (US, EU, ASIA) or a region name such as europe-central2."
  }
}

variable "staging_bucket_name" {
  type        = string
  description = "Name of the bucket the runner stages Parquet/NDJSON files in before each BigQuery load job."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.staging_bucket_name)) && !can(regex("^goog", var.staging_bucket_name))
    error_message = "staging_bucket_name must be 3-63 lower-case letters, digits, hyphens or underscores and must not start with goog."
  }
}

variable "dataflow_temp_bucket_name" {
  type        = string
  description = "Name of the bucket for Dataflow temp and staging files (pipeline packages, shuffle files)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.dataflow_temp_bucket_name)) && !can(regex("^goog", var.dataflow_temp_bucket_name))
    error_message = "dataflow_temp_bucket_name must be 3-63 lower-case letters, digits, hyphens or underscores and must not start with goog."
  }
}

variable "staging_retention_days" {
  type        = number
  description = "Staged files older than this are deleted. A run loads its files within minutes; the margin keeps them for investigating a failed load."
  default     = 7

  validation {
    condition     = var.staging_retention_days >= 1 && var.staging_retention_days <= 365 && floor(var.staging_retention_days) == var.staging_retention_days
    error_message = "staging_retention_days must be a whole number of days between 1 and 365."
  }
}

variable "dataflow_temp_retention_days" {
  type        = number
  description = "Dataflow temp files older than this are deleted."
  default     = 3

  validation {
    condition     = var.dataflow_temp_retention_days >= 1 && var.dataflow_temp_retention_days <= 365 && floor(var.dataflow_temp_retention_days) == var.dataflow_temp_retention_days
    error_message = "dataflow_temp_retention_days must be a whole number of days between 1 and 365."
  }
}

variable "versioning_enabled" {
  type        = bool
  description = "Keep noncurrent object versions. Off by default: staged files are written once and deleted by the lifecycle rule, so versions only add cost."
  default     = false
}

variable "noncurrent_version_retention_days" {
  type        = number
  description = "With versioning on, noncurrent versions older than this are deleted."
  default     = 7

  validation {
    condition     = var.noncurrent_version_retention_days >= 1 && var.noncurrent_version_retention_days <= 365
    error_message = "noncurrent_version_retention_days must be between 1 and 365."
  }
}

variable "access_log_bucket" {
  type        = string
  description = "Existing bucket that receives usage logs of both buckets, or null to rely on Cloud Audit Logs only."
  default     = null
}

variable "force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete the buckets while they still hold objects."
  default     = false
}

variable "labels" {
  type        = map(string)
  description = "Labels put on both buckets."
  default     = {}
}

variable "runner_service_account_email" {
  type        = string
  description = "Email of the ETL runner: object admin on its own two buckets, object viewer on the source buckets."
}

variable "enable_dataflow" {
  type        = bool
  description = "Grant the Dataflow worker account the same bucket access as the runner. A plain flag rather than a null check on the email, because the email is unknown until the account exists."
  default     = true
}

variable "dataflow_service_account_email" {
  type        = string
  description = "Email of the Dataflow worker service account; used only when enable_dataflow is true."
  default     = null
}

variable "source_bucket_names" {
  type        = set(string)
  description = "Existing buckets that GCS file jobs read from (names, not gs:// URLs). The runner (and Dataflow workers) get object viewer on each; the buckets themselves are not managed here."
  default     = []

  validation {
    condition     = alltrue([for b in var.source_bucket_names : can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", b))])
    error_message = "source_bucket_names must be bucket names such as my-bucket, without gs:// or a path."
  }
}
