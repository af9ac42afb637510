"""Example connections and jobs, and the `make demo` script."""
