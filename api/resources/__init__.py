"""One module per resource family; each resource is a small class given its collaborators."""
