"""Batch inference on one L4 GPU: a worker that takes a whole GPU node, stopped at rest."""

from shoestring.definitions import App, Project, Resources

PROJECT = Project(
    name="ml",
    apps=(
        App(
            name="worker",
            image="ghcr.io/acme/ml-worker",
            tag="51d0c7e8f9a2@sha256:8e029ad9cb709f6af1c29bcd683d6b95a44a3079ede0f0ae6d5a3863c10270fc",
            port=8080,
            repository="https://github.com/acme/ml",
            branch="main",
            replicas=0,
            gpus=1,
            whole_node=True,
            # A g2-standard-4 node leaves about 3.9 vCPU and 13 GB allocatable.
            resources=Resources(cpu="2", memory="8Gi", cpu_limit="3", memory_limit="12Gi"),
        ),
    ),
    # Reads its inputs from its own bucket; each stack names its own (stacks/*.yaml bucketRoles).
    bucket_roles={"acme-ml-data": "roles/storage.objectViewer"},
    quota_cpu="4",
    quota_memory="16Gi",
)
