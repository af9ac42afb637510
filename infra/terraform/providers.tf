provider "google" {
  project = var.project_id
  region  = var.region
}

# The project number names Google-managed service agents (Cloud Scheduler's signs OIDC tokens).
data "google_project" "this" {
  project_id = var.project_id
}
