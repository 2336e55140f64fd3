# drkit's image. Build and push (from the repository root):
#   docker build -t registry.example.com/platform/drkit:0.1.0 . && docker push registry.example.com/platform/drkit:0.1.0
# Stage 1 builds drkit and its dependencies as wheels; stage 2 installs only those wheels into a slim Python
# with no compiler and no pip cache, runs as user 65532, and writes nothing outside /tmp, so it runs with a
# read-only root filesystem (cronjob.yaml mounts an emptyDir at /tmp).

FROM python:3.12.8-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY drkit ./drkit
# ".[encrypt]": pyrage and cryptography, for export --encrypt age:... / kms:... (client-side encryption);
# ".[kube]": the official kubernetes client, for export --kube (the pod's service account, cronjob.yaml)
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[encrypt,kube]"

FROM python:3.12.8-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    TMPDIR=/tmp
# The wheels are bind-mounted from the build stage, so they never become a layer of this image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl
WORKDIR /tmp
USER 65532:65532
ENTRYPOINT ["drkit"]
CMD ["--help"]
