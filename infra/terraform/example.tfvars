# Copy to <environment>.tfvars (e.g. prod.tfvars), fill in, and pass with -var-file.
# scheduled_jobs is not set here: it comes from scheduled_jobs.auto.tfvars.json (generated from
# the deployments; format in README.md) or, when Prefect drives every schedule, -var 'scheduled_jobs={}'.

project_id = "acme-data-prod"
region     = "europe-central2"
# Datasets and buckets share one location so load jobs can read the staged files.
data_location = "europe-central2"
name_prefix   = "etl"

labels = {
  env  = "prod"
  team = "data-platform"
}

datasets = {
  raw_data = {}
  raw_finance = {
    description = "Finance sources, loaded by the ETL."
    labels      = { domain = "finance" }
  }
}

# Buckets that GCS file jobs read from (they are not created here).
source_bucket_names = ["acme-landing-zone"]

# Connection credentials. Add values out of band:
#   printf '%s' "$PASSWORD" | gcloud secrets versions add pg-orders-password --data-file=-
secrets = {
  pg-orders-password = {}
  gcs-partner-feed-key = {
    # Dataflow workers read large partner files too.
    accessors = ["runner", "dataflow"]
  }
}

# Prefect Cloud workspace (for a self-hosted server: https://prefect.internal.acme.com/api).
prefect_api_url        = "https://api.prefect.cloud/api/accounts/00000000-0000-0000-0000-000000000000/workspaces/00000000-0000-0000-0000-000000000000"
prefect_api_key_secret = "prefect-api-key"
scheduler_auth_mode    = "api_key"

work_pool_name = "etl-cloud-run"

# First apply only: the worker service mounts the Prefect API key, which has no value yet.
# Flip to true once `gcloud secrets versions add prefect-api-key` has run.
deploy_worker = false
