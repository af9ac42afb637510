locals {
  api_url = trimsuffix(var.prefect_api_url, "/")

  # The predecessor's wizard-created jobs failed with 401 because the OIDC token had no audience;
  # Cloud Run expects the service URL (scheme and host) unless a custom audience is configured.
  oidc_audience = coalesce(var.auth.oidc_audience, regex("^https://[^/]+", local.api_url))

  use_api_key = var.auth.mode == "api_key" && length(var.jobs) > 0

  trigger_job_name = "${var.name_prefix}-schedule-trigger"
  trigger_run_uri  = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/${local.trigger_job_name}:run"
}

# api_key mode. Cloud Scheduler cannot read a secret when it fires, and a key written into the
# jobs' Authorization header would sit in the Terraform state (and be readable by anyone with
# cloudscheduler.jobs.get). So the key never leaves Secret Manager: each scheduler job runs this
# Cloud Run job (OAuth token of the invoker account, Google's own API), with the deployment's id as
# an argument override; the job's container gets the key as a secret reference (never a value in
# the state) and creates the flow run with `prefect deployment run --id`.
resource "google_cloud_run_v2_job" "trigger" {
  count = local.use_api_key ? 1 : 0

  project             = var.project_id
  location            = var.region
  name                = local.trigger_job_name
  deletion_protection = false
  labels              = var.labels

  template {
    task_count = 1

    template {
      service_account = var.trigger_service_account_email
      max_retries     = 0
      timeout         = "120s"

      containers {
        image = var.trigger_image
        # Replaced by each scheduler job's override; run alone, it only prints the version.
        args = ["prefect", "version"]

        env {
          name  = "PREFECT_API_URL"
          value = local.api_url
        }

        env {
          name = "PREFECT_API_KEY"
          value_source {
            secret_key_ref {
              secret  = var.auth.api_key_secret_id
              version = "latest"
            }
          }
        }

        resources {
          limits = {
            cpu    = "1"
            memory = "512Mi"
          }
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.trigger_service_account_email != null
      error_message = "Scheduler auth mode api_key needs trigger_service_account_email, the account the trigger job runs as (it reads the Prefect API key)."
    }
  }
}

# The invoker may run this one job with overrides (the deployment id), nothing else in Cloud Run.
resource "google_cloud_run_v2_job_iam_member" "invoker_runs_trigger" {
  count = local.use_api_key ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.trigger[0].name
  role     = "roles/run.jobsExecutorWithOverrides"
  member   = "serviceAccount:${var.auth.invoker_service_account_email}"
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

  # oidc: the Prefect server's create_flow_run with an empty body (parameters, tags and work pool
  # come from the deployment, the one source of truth). api_key: the trigger job, which calls the
  # same endpoint through `prefect deployment run --id`. Neither carries a secret.
  http_target {
    http_method = "POST"
    uri         = var.auth.mode == "oidc" ? "${local.api_url}/deployments/${each.value.deployment_id}/create_flow_run" : local.trigger_run_uri
    body = base64encode(jsonencode(var.auth.mode == "oidc" ? {} : {
      overrides = {
        containerOverrides = [{ args = ["prefect", "deployment", "run", "--id", each.value.deployment_id] }]
      }
    }))
    headers = { "Content-Type" = "application/json" }

    dynamic "oidc_token" {
      for_each = var.auth.mode == "oidc" ? [1] : []
      content {
        service_account_email = var.auth.invoker_service_account_email
        audience              = local.oidc_audience
      }
    }

    dynamic "oauth_token" {
      for_each = var.auth.mode == "api_key" ? [1] : []
      content {
        service_account_email = var.auth.invoker_service_account_email
        scope                 = "https://www.googleapis.com/auth/cloud-platform"
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

    precondition {
      condition     = var.auth.invoker_service_account_email != null
      error_message = "Cloud Scheduler jobs need auth.invoker_service_account_email, the account their calls run as."
    }
  }
}
