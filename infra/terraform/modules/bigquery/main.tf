resource "google_bigquery_dataset" "this" {
  for_each = var.datasets

  project     = var.project_id
  dataset_id  = each.key
  location    = var.location
  description = each.value.description
  labels      = merge(var.labels, each.value.labels)

  default_table_expiration_ms = each.value.default_table_expiration_ms
  delete_contents_on_destroy  = var.delete_contents_on_destroy

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }

  # Access is granted with google_bigquery_dataset_iam_member below; an `access` block here would
  # be authoritative and fight those grants (and any the platform team adds by hand).
}

resource "google_bigquery_dataset_iam_member" "runner_data_editor" {
  for_each = var.datasets

  project    = var.project_id
  dataset_id = google_bigquery_dataset.this[each.key].dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${var.runner_service_account_email}"
}
