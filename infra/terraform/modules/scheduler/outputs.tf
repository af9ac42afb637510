output "job_names" {
  description = "Cloud Scheduler job IDs (etl-job-<job>) keyed by ETL job name."
  value       = { for name, j in google_cloud_scheduler_job.etl_job : name => j.name }
}

output "job_ids" {
  description = "Full Cloud Scheduler job resource IDs keyed by ETL job name, for gcloud scheduler jobs run/pause/resume."
  value       = { for name, j in google_cloud_scheduler_job.etl_job : name => j.id }
}
