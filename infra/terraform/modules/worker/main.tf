locals {
  repository_id    = "${var.name_prefix}-flows"
  image_repository = "${var.region}-docker.pkg.dev/${var.project_id}/${local.repository_id}"
}

resource "google_artifact_registry_repository" "flows" {
  #checkov:skip=CKV_GCP_84:The repository holds the flow image (code, no data); Google-managed encryption is the platform default. Add kms_key_name here if the organisation policy requires CMEK.
  project       = var.project_id
  location      = var.region
  repository_id = local.repository_id
  description   = "Flow images of the ETL deployments (one image, every job)."
  format        = "DOCKER"
  labels        = var.labels

  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "keep-recent-versions"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.image_retention.keep_recent_versions
    }
  }

  cleanup_policies {
    id     = "delete-old-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = var.image_retention.untagged_max_age
    }
  }
}

# A Prefect worker is a long-running poller, which Cloud Run serves only with one instance always
# on and CPU allocated outside requests. Nothing calls it: ingress is internal and its only port
# answers health checks.
resource "google_cloud_run_v2_service" "worker" {
  count = var.deploy_worker ? 1 : 0

  project             = var.project_id
  location            = var.region
  name                = "${var.name_prefix}-prefect-worker"
  description         = "Prefect worker for the ${var.work_pool_name} work pool: starts one Cloud Run job per flow run."
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection
  labels              = var.labels

  template {
    service_account = var.worker_service_account_email

    # Exactly one: two workers on one pool would both poll and double the API traffic for nothing.
    scaling {
      min_instance_count = 1
      max_instance_count = 1
    }

    containers {
      image = var.worker_image
      args = [
        "prefect", "worker", "start",
        "--pool", var.work_pool_name,
        "--type", "cloud-run-v2",
        "--with-healthcheck",
      ]

      # --with-healthcheck serves GET /health on 0.0.0.0:8080 (Prefect's defaults for
      # PREFECT_WORKER_WEBSERVER_HOST/PORT), which is also the port Cloud Run probes.
      ports {
        container_port = 8080
      }

      env {
        name  = "PREFECT_API_URL"
        value = var.prefect_api_url
      }

      env {
        name  = "EXTRA_PIP_PACKAGES"
        value = "prefect-gcp==${var.prefect_gcp_version}"
      }

      dynamic "env" {
        for_each = var.prefect_api_key_secret_id == null ? [] : [var.prefect_api_key_secret_id]
        content {
          name = "PREFECT_API_KEY"
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      resources {
        limits = {
          cpu    = var.worker_resources.cpu
          memory = var.worker_resources.memory
        }
        # CPU stays allocated between requests: the worker polls in the background.
        cpu_idle          = false
        startup_cpu_boost = true
      }

      # Installing prefect-gcp at start takes a while; give the first health check time.
      startup_probe {
        initial_delay_seconds = 10
        period_seconds        = 10
        failure_threshold     = 18
        timeout_seconds       = 5
        http_get {
          path = "/health"
          port = 8080
        }
      }

      liveness_probe {
        period_seconds    = 60
        failure_threshold = 3
        timeout_seconds   = 5
        http_get {
          path = "/health"
          port = 8080
        }
      }
    }
  }
}
