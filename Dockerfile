# syntax=docker/dockerfile:1
# One image for every Voka service. A Deployment picks the service with its command
# (`python -m services.<domain>`, k8s/base/services/); `docker run -e VOKA_SERVICE=<domain>`
# does the same through the default command below.
#
#   docker build -t voka:dev .
#
# Envoy and NATS run from their official images (k8s/base/gateway, k8s/base/nats), not this one.
# Debian bookworm pinned: the Apertium packages below are the ones verified on bookworm.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app:/app/gen \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# Debian packages beyond Python wheels (Apertium and its language pairs for translate): the same
# list scripts/bootstrap.sh installs on a developer's machine.
COPY scripts/apt-packages.txt scripts/apt-packages.txt
RUN apt-get update \
    && sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/apt-packages.txt \
       | xargs apt-get install -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/*

# Dependencies before code, so a code change reuses this layer. torch comes from PyTorch's CPU
# index: the pinned version from PyPI would pull gigabytes of CUDA libraries on Linux.
COPY requirements.txt .
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt

COPY voka/ voka/
COPY gen/ gen/
COPY services/ services/
COPY gateway/ gateway/
COPY tools/ tools/

# Bytecode compiled now: the root filesystem is read-only in the cluster.
RUN python -m compileall -q voka gen services gateway tools

# A fixed non-root uid/gid, matching runAsUser/runAsGroup in k8s/base. /app/var is
# VOKA_DATA_DIR (an emptyDir in the cluster); caches go to /tmp (also an emptyDir there).
RUN groupadd --system --gid 10001 voka \
    && useradd --system --uid 10001 --gid voka --home-dir /app/var --no-create-home voka \
    && mkdir -p /app/var \
    && chown voka:voka /app/var
ENV VOKA_HOST=0.0.0.0 \
    VOKA_DATA_DIR=/app/var \
    HOME=/app/var \
    XDG_CACHE_HOME=/tmp/cache \
    HF_HOME=/tmp/cache/huggingface
USER 10001:10001

# gRPC 50051-50057 and metrics 51051-51057, one pair per domain (voka/config.py).
EXPOSE 50051-50057 51051-51057

CMD ["sh", "-c", "exec python -m \"services.${VOKA_SERVICE:?set VOKA_SERVICE to a domain}\""]
