"""Batch inference on L4 GPUs: a worker that takes a whole GPU node, stopped at rest; an embedding
run that bursts to 20 GPU nodes on demand; a weekly evaluation on one."""

from program.definitions import App, Batch, Bucket, Project, Resources

IMAGE = "ghcr.io/acme/ml-worker"
TAG = "51d0c7e8f9a2@sha256:8e029ad9cb709f6af1c29bcd683d6b95a44a3079ede0f0ae6d5a3863c10270fc"
# A g2-standard-4 node leaves about 3.9 vCPU and 13 GB allocatable.
ONE_L4_NODE = Resources(cpu="2", memory="8Gi", cpu_limit="3", memory_limit="12Gi")

PROJECT = Project(
    name="ml",
    apps=(
        App(
            name="worker",
            image=IMAGE,
            tag=TAG,
            port=8080,
            repository="https://github.com/acme/ml",
            branch="main",
            replicas=0,
            gpus=1,
            whole_node=True,
            resources=ONE_L4_NODE,
        ),
    ),
    batches=(
        # `kubectl create job embed-$(date +%s) --from=cronjob/embed -n ml`: 20 pods, one per L4
        # node, through 200 shards (each pod reads JOB_COMPLETION_INDEX); stopped after 2 hours.
        Batch(
            name="embed",
            image=IMAGE,
            tag=TAG,
            command=("python", "-m", "ml.embed"),
            repository="https://github.com/acme/ml",
            gpus=1,
            parallelism=20,
            completions=200,
            max_hours=2,
            # Spot preemptions count as failures: room for a few of them across 200 shards.
            retries=20,
            resources=ONE_L4_NODE,
        ),
        Batch(
            name="eval",
            image=IMAGE,
            tag=TAG,
            command=("python", "-m", "ml.evaluate"),
            repository="https://github.com/acme/ml",
            gpus=1,
            max_hours=1,
            schedule="0 4 * * 1",  # Mondays 04:00 UTC
            resources=ONE_L4_NODE,
        ),
    ),
    # Reads its inputs from its own bucket: each stack declares its own (<GCP project>-<namespace>-data).
    buckets={"data": Bucket(role="roles/storage.objectViewer", size_gib=50)},
    quota_cpu="4",
    quota_memory="16Gi",
)
