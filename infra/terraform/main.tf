# One environment of the ETL: every module wired once. Module sources are local paths so a
# review of this repository reviews everything that gets applied.

locals {
  data_location = coalesce(var.data_location, var.region)

  labels = merge({ app = "etl", managed-by = "terraform" }, var.labels)

  staging_bucket_name       = coalesce(var.staging_bucket_name, "${var.project_id}-${var.name_prefix}-staging")
  dataflow_temp_bucket_name = coalesce(var.dataflow_temp_bucket_name, "${var.project_id}-${var.name_prefix}-dataflow-temp")

  # The Prefect API key secret is declared here rather than by the user so its readers are always
  # right: the worker (to poll) and the runner (the flow-run jobs report their state with it).
  prefect_api_key_secrets = var.prefect_api_key_secret == null ? {} : {
    (var.prefect_api_key_secret) = { accessors = ["worker", "runner"], labels = {} }
  }

  secret_accessors = merge(
    {
      runner = module.iam.runner_email
      worker = module.iam.worker_email
    },
    var.enable_dataflow ? { dataflow = module.iam.dataflow_email } : {},
  )
}

module "apis" {
  source = "./modules/apis"

  project_id = var.project_id
}

module "iam" {
  source     = "./modules/iam"
  depends_on = [module.apis]

  project_id            = var.project_id
  project_number        = data.google_project.this.number
  name_prefix           = var.name_prefix
  enable_dataflow       = var.enable_dataflow
  enable_scheduler_oidc = var.scheduler_auth_mode == "oidc"
  # The invoker is also the identity that runs the trigger job in api_key mode.
  enable_scheduler_invoker   = var.scheduler_auth_mode == "oidc" || length(var.scheduled_jobs) > 0
  prefect_server_run_service = var.prefect_server_run_service
}

module "bigquery" {
  source     = "./modules/bigquery"
  depends_on = [module.apis]

  project_id                   = var.project_id
  location                     = local.data_location
  datasets                     = var.datasets
  labels                       = local.labels
  runner_service_account_email = module.iam.runner_email
  kms_key_name                 = var.dataset_kms_key_name
  delete_contents_on_destroy   = var.dataset_delete_contents_on_destroy
}

module "storage" {
  source     = "./modules/storage"
  depends_on = [module.apis]

  project_id                        = var.project_id
  location                          = local.data_location
  staging_bucket_name               = local.staging_bucket_name
  dataflow_temp_bucket_name         = local.dataflow_temp_bucket_name
  staging_retention_days            = var.staging_retention_days
  dataflow_temp_retention_days      = var.dataflow_temp_retention_days
  versioning_enabled                = var.bucket_versioning_enabled
  noncurrent_version_retention_days = var.staging_retention_days
  access_log_bucket                 = var.bucket_access_log_bucket
  force_destroy                     = var.bucket_force_destroy
  labels                            = local.labels
  runner_service_account_email      = module.iam.runner_email
  enable_dataflow                   = var.enable_dataflow
  dataflow_service_account_email    = module.iam.dataflow_email
  source_bucket_names               = var.source_bucket_names
}

module "secrets" {
  source     = "./modules/secrets"
  depends_on = [module.apis]

  project_id                = var.project_id
  secrets                   = merge(var.secrets, local.prefect_api_key_secrets)
  accessor_service_accounts = local.secret_accessors
  replica_locations         = var.secret_replica_locations
  labels                    = local.labels
}

module "worker" {
  source = "./modules/worker"
  # The worker mounts the Prefect API key, so its accessor binding must exist first.
  depends_on = [module.apis, module.secrets]

  project_id                   = var.project_id
  region                       = var.region
  name_prefix                  = var.name_prefix
  labels                       = local.labels
  deploy_worker                = var.deploy_worker
  worker_service_account_email = module.iam.worker_email
  work_pool_name               = var.work_pool_name
  prefect_api_url              = var.prefect_api_url
  prefect_api_key_secret_id    = var.prefect_api_key_secret
  worker_image                 = var.worker_image
  deletion_protection          = var.worker_deletion_protection
}

module "scheduler" {
  source = "./modules/scheduler"
  # The trigger job (api_key mode) mounts the Prefect API key: its accessor binding comes first.
  depends_on = [module.apis, module.iam, module.secrets]

  project_id      = var.project_id
  region          = var.region
  name_prefix     = var.name_prefix
  labels          = local.labels
  jobs            = var.scheduled_jobs
  prefect_api_url = var.prefect_api_url
  retry           = var.scheduler_retry
  # The worker's account already reads the Prefect API key and talks to the Prefect API.
  trigger_service_account_email = module.iam.worker_email
  auth = {
    mode                          = var.scheduler_auth_mode
    api_key_secret_id             = var.scheduler_auth_mode == "api_key" ? var.prefect_api_key_secret : null
    invoker_service_account_email = module.iam.scheduler_invoker_email
    oidc_audience                 = var.scheduler_oidc_audience
  }
}
