output "runner_email" {
  description = "Email of the ETL runner service account: the work pool's Cloud Run jobs run as it."
  value       = google_service_account.runner.email
}

output "runner_name" {
  description = "Full resource name of the runner service account."
  value       = google_service_account.runner.name
}

output "worker_email" {
  description = "Email of the Prefect worker service account."
  value       = google_service_account.worker.email
}

output "scheduler_invoker_email" {
  description = "Email of the scheduler invoker service account, or null when OIDC is off."
  value       = one(google_service_account.scheduler_invoker[*].email)
}

output "dataflow_email" {
  description = "Email of the Dataflow worker service account, or null when Dataflow is off."
  value       = one(google_service_account.dataflow[*].email)
}

output "scheduler_service_agent" {
  description = "The Cloud Scheduler service agent that mints OIDC tokens for the invoker."
  value       = trimprefix(local.scheduler_service_agent, "serviceAccount:")
}
