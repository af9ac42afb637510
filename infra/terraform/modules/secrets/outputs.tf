# Only names and IDs: no output ever carries a secret value.

output "secret_ids" {
  description = "Full resource IDs (projects/<p>/secrets/<id>) keyed by secret ID."
  value       = { for id, s in google_secret_manager_secret.this : id => s.id }
}

output "secret_names" {
  description = "Secret IDs as a sorted list, for reference in connection blocks."
  value       = sort(keys(google_secret_manager_secret.this))
}

output "accessor_bindings" {
  description = "Which accessor may read which secret, as <secret>/<accessor> keys."
  value       = sort(keys(google_secret_manager_secret_iam_member.accessor))
}
