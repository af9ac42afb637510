# Every other module creates resources whose API must be on first; the root makes them depend on
# this module so a first `terraform apply` in an empty project does not fail half-way.
resource "google_project_service" "this" {
  for_each = var.services

  project = var.project_id
  service = each.value

  # Other workloads in the project may use the same APIs: destroying the ETL must never switch
  # them off.
  disable_on_destroy         = false
  disable_dependent_services = false
}
