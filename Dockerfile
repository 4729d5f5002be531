# syntax=docker/dockerfile:1
# One image per Voka service, from one multi-stage file: target <domain> is the image
# voka-<domain> (`python -m services.<domain>`, its Deployment in k8s/base/services/), and target
# `voka` is the kit and the code alone (tools such as `python -m tools.nats_auth provision`).
# A service that runs no model carries no torch, llama.cpp or model: each image installs
# requirements.txt and its own requirements-<domain>.txt, scripts/apt-packages.txt and its own
# scripts/apt-packages-<domain>.txt. Compilers live in the build stage only.
#
#   make image                                        # every target, with podman (tools/image.py)
#   docker build --target translate -t voka-translate:dev .
#
# Envoy and NATS run from their official images (k8s/base/gateway, k8s/base/nats), not these.
# Debian bookworm: the Apertium packages are the ones verified on bookworm. BASE_IMAGE may be any
# bookworm; one without Python (debootstrap's, README "Images") gets Debian's python3.11.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# Packages downloaded beforehand, which pip takes where its index has nothing (tools/image.py
# passes its wheelhouse, with the CPU-only torch, as --build-context wheelhouse=DIR); empty here.
FROM scratch AS wheelhouse

# --- base: Python 3.11 in a virtual environment that every later stage installs into ----------
FROM ${BASE_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
COPY scripts/apt-install.sh /usr/local/sbin/apt-install
RUN command -v python3.11 >/dev/null \
    || printf '%s\n' python3.11 python3.11-venv | apt-install - \
    && python3.11 -m venv /opt/venv

# --- build: the compilers, a wheel for every runtime requirement, the fakenect shim -----------
FROM base AS build
COPY scripts/apt-packages-build.txt /opt/voka/
# Debian's Python (a base without Python) needs its headers for the C extensions.
RUN apt-install /opt/voka/apt-packages-build.txt \
    && if [ -x /usr/bin/python3.11 ]; then echo python3.11-dev | apt-install -; fi
WORKDIR /build
# Every requirements file but requirements-dev.txt (.dockerignore keeps it out).
COPY requirements*.txt scripts/vision-no-deps.txt ./
# torch==...+cpu from PyTorch's CPU index (PyPI has only the build with gigabytes of CUDA
# libraries; tools/image.py empties this, its wheelhouse holds the CPU wheel). llama.cpp is built
# for any x86-64, not only this machine's CPU. The CA bundle is a secret where pip needs one
# (tools/image.py passes the machine's), so no image keeps it.
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV CMAKE_ARGS=-DGGML_NATIVE=OFF
RUN --mount=type=bind,from=wheelhouse,target=/wheelhouse \
    --mount=type=secret,id=ca,target=/run/secrets/ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && pip wheel --wheel-dir /wheels --find-links /wheelhouse \
       $(printf -- '-r %s ' requirements*.txt) \
    && pip wheel --wheel-dir /wheels --find-links /wheelhouse --no-deps -r vision-no-deps.txt
COPY services/kinect/shim.py services/kinect/fakenect_shim.c shim/
RUN python shim/shim.py /shim

# --- code: the sources, bytecode compiled now (the root filesystem is read-only in the cluster)
FROM base AS code
WORKDIR /app
COPY voka/ voka/
COPY gen/ gen/
COPY services/ services/
COPY gateway/ gateway/
COPY tools/ tools/
RUN python -m compileall -q voka gen services gateway tools

# --- vision-models: the object detector, unpacked from npm's @mediapipe/objectron -----------
# (scripts/vision-models.sh checks its SHA-256); npm lives in this stage only.
FROM base AS vision-models
COPY scripts/vision-models.sh /opt/voka/
RUN --mount=type=secret,id=ca,target=/run/secrets/ca \
    echo npm | apt-install - \
    && if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi \
    && /opt/voka/vision-models.sh /models/vision

# --- runtime: what every image has, from wheels only (nothing compiles past the build stage) ---
# Each image keeps the lists it was built from in /opt/voka.
FROM base AS runtime
COPY requirements.txt scripts/apt-packages.txt /opt/voka/
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    apt-install /opt/voka/apt-packages.txt \
    && pip install --no-index --find-links /wheels -r /opt/voka/requirements.txt
# A fixed non-root uid/gid, matching runAsUser/runAsGroup in k8s/base. /app/var is
# VOKA_DATA_DIR (an emptyDir in the cluster); caches go to /tmp (also an emptyDir there).
RUN groupadd --system --gid 10001 voka \
    && useradd --system --uid 10001 --gid voka --home-dir /app/var --no-create-home voka \
    && mkdir -p /app/var \
    && chown voka:voka /app/var
ENV PYTHONPATH=/app:/app/gen \
    VOKA_HOST=0.0.0.0 \
    VOKA_DATA_DIR=/app/var \
    HOME=/app/var \
    XDG_CACHE_HOME=/tmp/cache \
    HF_HOME=/tmp/cache/huggingface
WORKDIR /app
# gRPC 50051-50058 and metrics 51051-51058, one pair per domain (voka/config.py).
EXPOSE 50051-50058 51051-51058
CMD ["sh", "-c", "exec python -m \"services.${VOKA_SERVICE:?set VOKA_SERVICE to a domain}\""]

# --- one target per service: its own lists, then the code, then the unprivileged user ---------
# A new service adds a stage like these (tests/images checks every declared service has one).

FROM runtime AS auth
COPY requirements-auth.txt /opt/voka/
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels -r /opt/voka/requirements-auth.txt
COPY --from=code /app /app
ENV VOKA_SERVICE=auth
USER 10001:10001

FROM runtime AS translate
COPY requirements-translate.txt scripts/apt-packages-translate.txt /opt/voka/
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    apt-install /opt/voka/apt-packages-translate.txt \
    && pip install --no-index --find-links /wheels -r /opt/voka/requirements-translate.txt
COPY --from=code /app /app
ENV VOKA_SERVICE=translate
USER 10001:10001

FROM runtime AS speech
COPY requirements-speech.txt scripts/apt-packages-speech.txt /opt/voka/
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    apt-install /opt/voka/apt-packages-speech.txt \
    && pip install --no-index --find-links /wheels -r /opt/voka/requirements-speech.txt
COPY --from=code /app /app
ENV VOKA_SERVICE=speech
USER 10001:10001

FROM runtime AS assistant
COPY requirements-assistant.txt scripts/apt-packages-assistant.txt /opt/voka/
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    apt-install /opt/voka/apt-packages-assistant.txt \
    && pip install --no-index --find-links /wheels -r /opt/voka/requirements-assistant.txt
COPY --from=code /app /app
ENV VOKA_SERVICE=assistant
USER 10001:10001

FROM runtime AS tasks
COPY --from=code /app /app
ENV VOKA_SERVICE=tasks
USER 10001:10001

FROM runtime AS kinect
COPY requirements-kinect.txt scripts/apt-packages-kinect.txt /opt/voka/
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    apt-install /opt/voka/apt-packages-kinect.txt \
    && pip install --no-index --find-links /wheels -r /opt/voka/requirements-kinect.txt
COPY --from=code /app /app
# Compiled in the build stage; the service finds it beside its source (services/kinect/shim.py).
COPY --from=build /shim/ /app/services/kinect/
ENV VOKA_SERVICE=kinect
USER 10001:10001

FROM runtime AS meetings
COPY --from=code /app /app
ENV VOKA_SERVICE=meetings
USER 10001:10001

# MediaPipe and the gesture recogniser's package without their dependencies
# (scripts/vision-no-deps.txt); the detector from the vision-models stage.
FROM runtime AS vision
COPY requirements-vision.txt scripts/vision-no-deps.txt /opt/voka/
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels -r /opt/voka/requirements-vision.txt \
    && pip install --no-index --find-links /wheels --no-deps -r /opt/voka/vision-no-deps.txt
COPY --from=vision-models /models/vision /opt/voka/models/vision
COPY --from=code /app /app
ENV VOKA_VISION_MODELS_DIR=/opt/voka/models/vision
ENV VOKA_SERVICE=vision
USER 10001:10001

# The kit and the code, no service's packages: jobs such as the NATS streams' provisioning.
# Last, so a plain `docker build .` builds it.
FROM runtime AS voka
COPY --from=code /app /app
USER 10001:10001
