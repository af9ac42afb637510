terraform {
  # optional() object attributes with defaults need 1.3; validation and check blocks as used here
  # are stable from 1.5.
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # A module states the range it is written for; the root configuration pins the exact series.
      version = ">= 6.14, < 8.0"
    }
  }
}
