output "enabled_services" {
  description = "The APIs this module keeps enabled, sorted."
  value       = sort([for s in google_project_service.this : s.service])
}
