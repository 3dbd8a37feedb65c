"""Progress of background jobs, fanned out to whoever follows them."""
