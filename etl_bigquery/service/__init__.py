"""What the command line and the console share: the job lifecycle (apply, edit, pause, delete,
deploy), the connection catalog, discovery, work pools, automations and Terraform inputs.
Nothing here parses arguments or speaks HTTP."""
