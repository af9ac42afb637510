# What a platform engineer needs next: the values for the work pool's base job template, the
# image to push, and where the data lands. No output carries a secret value.

output "runner_service_account_email" {
  description = "Service account the flow runs execute as: the work pool's service_account_name."
  value       = module.iam.runner_email
}

output "worker_service_account_email" {
  description = "Service account of the Prefect worker."
  value       = module.iam.worker_email
}

output "scheduler_invoker_service_account_email" {
  description = "Service account in Cloud Scheduler's OIDC tokens (oidc mode), else null."
  value       = module.iam.scheduler_invoker_email
}

output "dataflow_service_account_email" {
  description = "Service account of the Dataflow workers (the subflow's service_account_email), else null."
  value       = module.iam.dataflow_email
}

output "staging_bucket_name" {
  description = "Bucket the stager writes load files to."
  value       = module.storage.staging_bucket_name
}

output "dataflow_temp_bucket_name" {
  description = "Bucket for Dataflow temp_location and staging_location."
  value       = module.storage.dataflow_temp_bucket_name
}

output "datasets" {
  description = "Destination datasets (project:dataset) keyed by dataset ID."
  value       = module.bigquery.datasets
}

output "image_repository" {
  description = "Artifact Registry repository for the flow image; push <this>/etl-flows:<tag>."
  value       = module.worker.image_repository
}

output "work_pool_name" {
  description = "Prefect work pool the worker polls."
  value       = module.worker.work_pool_name
}

output "worker_service_name" {
  description = "Cloud Run service running the Prefect worker, or null."
  value       = module.worker.worker_service_name
}

output "secret_ids" {
  description = "Secret Manager secret IDs keyed by name (values are never output)."
  value       = module.secrets.secret_ids
}

output "scheduler_jobs" {
  description = "Cloud Scheduler jobs (etl-job-<job>) keyed by ETL job name."
  value       = module.scheduler.job_names
}

output "work_pool_job_variables" {
  description = "Values for the cloud-run-v2 work pool's base job template (README, step 6)."
  value = {
    region                 = var.region
    service_account_name   = module.iam.runner_email
    image_repository       = module.worker.image_repository
    prefect_api_key_secret = var.prefect_api_key_secret == null ? null : { secret = var.prefect_api_key_secret, version = "latest" }
  }
}
