locals {
  buckets = {
    staging = {
      name           = var.staging_bucket_name
      retention_days = var.staging_retention_days
    }
    dataflow_temp = {
      name           = var.dataflow_temp_bucket_name
      retention_days = var.dataflow_temp_retention_days
    }
  }

  runner_member = "serviceAccount:${var.runner_service_account_email}"
  # Conditional: with Dataflow off the email is null, and a null in a template is an error.
  dataflow_member = var.enable_dataflow ? "serviceAccount:${var.dataflow_service_account_email}" : null

  # Both writers on both buckets: the runner stages load files and submits Beam pipelines (which
  # upload their package to the temp bucket); Dataflow workers write staged files and temp files.
  own_bucket_grants = merge(
    { for key in keys(local.buckets) : "${key}/runner" => { bucket = key, member = local.runner_member } },
    var.enable_dataflow ? { for key in keys(local.buckets) : "${key}/dataflow" => { bucket = key, member = local.dataflow_member } } : {},
  )
}

resource "google_storage_bucket" "this" {
  #checkov:skip=CKV_GCP_78:Staged and temp files are written once and expire by lifecycle rule; versions would only add cost. Versioning is available through versioning_enabled.
  for_each = local.buckets

  project       = var.project_id
  name          = each.value.name
  location      = var.location
  labels        = var.labels
  force_destroy = var.force_destroy

  # IAM only, no object ACLs, and never public: staged files are copies of source data.
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = var.versioning_enabled
  }

  # Staged files are only needed until their load job has run; without this rule the bucket
  # would keep a copy of every load forever.
  lifecycle_rule {
    condition {
      age = each.value.retention_days
    }
    action {
      type = "Delete"
    }
  }

  # With versioning, deleting a live object leaves a noncurrent version; expire those too.
  dynamic "lifecycle_rule" {
    for_each = var.versioning_enabled ? [var.noncurrent_version_retention_days] : []
    content {
      condition {
        days_since_noncurrent_time = lifecycle_rule.value
        with_state                 = "ARCHIVED"
      }
      action {
        type = "Delete"
      }
    }
  }

  dynamic "logging" {
    for_each = var.access_log_bucket == null ? [] : [var.access_log_bucket]
    content {
      log_bucket        = logging.value
      log_object_prefix = each.value.name
    }
  }
}

# Object admin, not storage admin: the runner creates and deletes staged files but cannot change
# the bucket's IAM policy, lifecycle or public-access settings.
resource "google_storage_bucket_iam_member" "own_bucket_object_admin" {
  for_each = local.own_bucket_grants

  bucket = google_storage_bucket.this[each.value.bucket].name
  role   = "roles/storage.objectAdmin"
  member = each.value.member
}

resource "google_storage_bucket_iam_member" "source_runner_object_viewer" {
  for_each = var.source_bucket_names

  bucket = each.value
  role   = "roles/storage.objectViewer"
  member = local.runner_member
}

resource "google_storage_bucket_iam_member" "source_dataflow_object_viewer" {
  for_each = var.enable_dataflow ? var.source_bucket_names : toset([])

  bucket = each.value
  role   = "roles/storage.objectViewer"
  member = local.dataflow_member
}
