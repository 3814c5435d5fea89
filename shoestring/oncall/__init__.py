"""`on-call`: runbooks as code, over the Kubernetes API, for the apps the Pulumi program declares."""
