terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # The series this configuration is written for; modules accept >= 6.14, < 8.0. Commit the
      # .terraform.lock.hcl that `terraform init` writes so every apply uses the same build.
      version = "~> 7.0"
    }
  }

  # State belongs in a GCS bucket with versioning, created once per project (README, "State
  # bucket"). It holds no secret value (secrets are created empty; the Prefect API key stays in
  # Secret Manager), but names every resource: restrict who can read it. Uncomment and fill in,
  # then `terraform init`.
  #
  # backend "gcs" {
  #   bucket = "<project-id>-tfstate"
  #   prefix = "etl/<environment>"
  # }
}
