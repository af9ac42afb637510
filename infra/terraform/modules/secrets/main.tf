locals {
  # One binding per (secret, accessor) pair, keyed "<secret>/<accessor>" so adding an accessor
  # never re-creates the other bindings.
  accessor_grants = merge([
    for secret_id, s in var.secrets : {
      for accessor in s.accessors : "${secret_id}/${accessor}" => {
        secret_id = secret_id
        accessor  = accessor
      }
    }
  ]...)
}

resource "google_secret_manager_secret" "this" {
  for_each = var.secrets

  project   = var.project_id
  secret_id = each.key
  labels    = merge(var.labels, each.value.labels)

  replication {
    dynamic "auto" {
      for_each = length(var.replica_locations) == 0 ? [1] : []
      content {}
    }

    dynamic "user_managed" {
      for_each = length(var.replica_locations) == 0 ? [] : [1]
      content {
        dynamic "replicas" {
          for_each = var.replica_locations
          content {
            location = replicas.value
          }
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = alltrue([for a in each.value.accessors : contains(keys(var.accessor_service_accounts), a)])
      error_message = "Secret ${each.key} names an accessor that is not a key of accessor_service_accounts."
    }
  }
}

# No google_secret_manager_secret_version here, on purpose: a version's secret_data is stored in
# the Terraform state (and in saved plans). Secrets are created empty; their values are added
# outside Terraform (`gcloud secrets versions add ID --data-file=-`, see README), so no secret
# value can ever reach the state. tests/infra/test_secrets_state.py keeps it so.

# Accessor on each secret, never project-wide: the runner reads the credentials of the connections
# it serves, not every secret in the project.
resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = local.accessor_grants

  project   = var.project_id
  secret_id = google_secret_manager_secret.this[each.value.secret_id].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${var.accessor_service_accounts[each.value.accessor]}"
}
