output "dataset_ids" {
  description = "The dataset IDs created, as a list."
  value       = sort(keys(google_bigquery_dataset.this))
}

output "datasets" {
  description = "Fully qualified dataset names (project:dataset) keyed by dataset ID."
  value       = { for id, d in google_bigquery_dataset.this : id => "${d.project}:${d.dataset_id}" }
}
