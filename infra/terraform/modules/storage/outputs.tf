output "staging_bucket_name" {
  description = "Name of the staging bucket (the stager writes to gs://<name>/...)."
  value       = google_storage_bucket.this["staging"].name
}

output "dataflow_temp_bucket_name" {
  description = "Name of the Dataflow temp bucket (temp_location gs://<name>/temp, staging_location gs://<name>/staging)."
  value       = google_storage_bucket.this["dataflow_temp"].name
}

output "bucket_urls" {
  description = "gs:// URLs of both buckets keyed by purpose."
  value       = { for key, b in google_storage_bucket.this : key => b.url }
}
