output "image_repository" {
  description = "Docker repository for the flow image: docker push <this>/etl-flows:<tag>."
  value       = local.image_repository
}

output "repository_id" {
  description = "Artifact Registry repository ID."
  value       = google_artifact_registry_repository.flows.repository_id
}

output "worker_service_name" {
  description = "Name of the Cloud Run service running the Prefect worker, or null when deploy_worker is false."
  value       = one(google_cloud_run_v2_service.worker[*].name)
}

output "work_pool_name" {
  description = "The Prefect work pool the worker polls."
  value       = var.work_pool_name
}
