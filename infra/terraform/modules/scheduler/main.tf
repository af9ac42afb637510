locals {
  api_url = trimsuffix(var.prefect_api_url, "/")

  # The predecessor's wizard-created jobs failed with 401 because the OIDC token had no audience;
  # Cloud Run expects the service URL (scheme and host) unless a custom audience is configured.
  oidc_audience = coalesce(var.auth.oidc_audience, regex("^https://[^/]+", local.api_url))

  use_api_key = var.auth.mode == "api_key" && length(var.jobs) > 0
}

# The key is read at plan time and written into each job's Authorization header: Cloud Scheduler
# cannot fetch a secret when it fires. It is therefore in the Terraform state and visible to
# principals with cloudscheduler.jobs.get; use a Prefect service account key scoped to running
# deployments (see README).
data "google_secret_manager_secret_version" "prefect_api_key" {
  count = local.use_api_key ? 1 : 0

  project = var.project_id
  secret  = var.auth.api_key_secret_id
}

resource "google_cloud_scheduler_job" "etl_job" {
  for_each = var.jobs

  project     = var.project_id
  region      = var.region
  name        = "etl-job-${each.key}"
  description = "Creates a flow run of Prefect deployment ${each.value.deployment_name}."
  schedule    = each.value.cron
  time_zone   = each.value.time_zone
  paused      = each.value.paused

  attempt_deadline = var.attempt_deadline

  retry_config {
    retry_count          = var.retry.retry_count
    min_backoff_duration = var.retry.min_backoff_duration
    max_backoff_duration = var.retry.max_backoff_duration
    max_doublings        = var.retry.max_doublings
    max_retry_duration   = var.retry.max_retry_duration
  }

  http_target {
    http_method = "POST"
    uri         = "${local.api_url}/deployments/${each.value.deployment_id}/create_flow_run"
    # An empty body: parameters, tags and work pool come from the deployment, which stays the one
    # source of truth. The run is created Scheduled for now.
    body = base64encode(jsonencode({}))
    headers = merge(
      { "Content-Type" = "application/json" },
      local.use_api_key ? { "Authorization" = "Bearer ${data.google_secret_manager_secret_version.prefect_api_key[0].secret_data}" } : {},
    )

    dynamic "oidc_token" {
      for_each = var.auth.mode == "oidc" ? [1] : []
      content {
        service_account_email = var.auth.oidc_service_account_email
        audience              = local.oidc_audience
      }
    }
  }

  lifecycle {
    # Checked here rather than in the variable: without scheduled jobs no key is needed, which
    # lets a self-hosted server without API keys leave it unset.
    precondition {
      condition     = var.auth.mode != "api_key" || var.auth.api_key_secret_id != null
      error_message = "Scheduler auth mode api_key needs the Secret Manager secret that holds the Prefect API key (prefect_api_key_secret)."
    }
  }
}
