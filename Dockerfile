# syntax=docker/dockerfile:1
# GreenScore image: one image for the scoring API (`greenscore serve`), the batch-job
# worker (the same command with serving.job_worker on; see docs/deployment.md) and, with
# issue 16, the dashboard (`greenscore dashboard`).
#
#   docker build -t greenscore:0.1.0 .
#   docker run --rm -p 8000:8000 -v gs-home:/var/lib/greenscore greenscore:0.1.0 \
#       serve --model models:/taiwan-pd@champion
#
# Two stages: the builder installs the pinned CPU torch first (an unpinned torch would
# pull a multi-gigabyte CUDA build), then GreenScore and its dependencies into a virtual
# environment; the runtime copies only that environment onto a slim base. No secret is
# passed at build time: every credential arrives at run time (environment or mounted
# files), so no layer holds one.

# ------------------------------------------------------------------ builder
FROM python:3.11-slim-bookworm AS builder

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# Builds behind a package mirror or a TLS-inspecting proxy (a bank's usual setup) pass
# them here; pip reads these from the environment. PIP_CERT is a path to a CA bundle
# mounted for the build (buildah/podman -v, or a BuildKit secret mount), never copied into a
# layer. Unset by default: PyPI, and the PyTorch index above for torch.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_CERT

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# torch first, from the CPU index, so the project's torch==2.13.0 is already satisfied.
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"

COPY pyproject.toml README.md ./
COPY src ./src
# A regular (not editable) install: the runtime needs no source tree. The byte-code is
# compiled here because the runtime's root filesystem is read-only (torch ships one test
# helper in Python 3.12 syntax, left out).
RUN pip install --no-cache-dir . \
    && python -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('${TORCH_VERSION}') else f'torch drifted to {v}')" \
    && python -m compileall -q -x '/torch/testing/_internal/py312_intrinsics\.py$' /opt/venv/lib

# ------------------------------------------------------------------ runtime
FROM python:3.11-slim-bookworm AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="greenscore" \
      org.opencontainers.image.description="Credit-risk PD models: scoring API, batch-job worker, dashboard" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="GreenScore"

# LightGBM's OpenMP runtime is the one shared library the slim base lacks. Versions are
# not pinned: the security updates of the Debian release come in with each rebuild.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can check it without /etc/passwd.
RUN groupadd --system --gid 10001 greenscore \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/greenscore \
       --shell /usr/sbin/nologin greenscore \
    && mkdir -p /var/lib/greenscore \
    && chown 10001:10001 /var/lib/greenscore

COPY --from=builder /opt/venv /opt/venv

# Writable paths are the home volume and /tmp only, so the root filesystem can be
# mounted read-only: caches (matplotlib, numba, XDG) go to /tmp, byte-code is precompiled.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/greenscore \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true \
    TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="" \
    OMP_NUM_THREADS=1 \
    GREENSCORE_HOME=/var/lib/greenscore \
    GREENSCORE_SERVING__HOST=0.0.0.0 \
    GREENSCORE_SERVING__PORT=8000 \
    GREENSCORE_LOG_LEVEL=INFO

VOLUME ["/var/lib/greenscore"]
WORKDIR /var/lib/greenscore
USER 10001:10001
EXPOSE 8000

# Liveness only (the process answers HTTP); readiness, which also needs the model and the
# database, is the orchestrator's /health/ready probe. No curl in the slim base: Python.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GREENSCORE_SERVING__PORT', '8000') + '/health/live', timeout=4)"]

ENTRYPOINT ["greenscore"]
CMD ["serve"]
