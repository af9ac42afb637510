"""Source readers, one module per family; each yields Arrow record batches."""
