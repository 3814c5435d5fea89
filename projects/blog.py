"""The team's blog: a web frontend and the API behind it, with a Postgres schema to bootstrap."""

from program.definitions import App, Bootstrap, Project, Public, Resources

PROJECT = Project(
    name="blog",
    apps=(
        App(
            name="frontend",
            image="ghcr.io/acme/blog-frontend",
            tag="9c4e1f2a7b3d@sha256:03add99eadf5b71fa26a01a230a9674cd5c8d2048ac4123b66cd1aeadc3353c0",
            port=8080,
            repository="https://github.com/acme/blog",
            branch="main",
            env={"API_URL": "http://backend:8000"},
            spot=True,
            public=Public(hosts=("blog.example.com",)),
        ),
        App(
            name="backend",
            image="ghcr.io/acme/blog-backend",
            tag="9c4e1f2a7b3d@sha256:3bcb8f0668632d1fe4f9912ae1a8b56571753ac09a46e6fc6a4226c7e7db3fd0",
            port=8000,
            repository="https://github.com/acme/blog",
            branch="main",
            resources=Resources(cpu="200m", memory="256Mi", cpu_limit="1", memory_limit="512Mi"),
            secrets={"DATABASE_URL": "blog-db-url"},
            spot=True,
            bootstrap=Bootstrap(command=("python", "-m", "blog.bootstrap_database")),
        ),
    ),
)
