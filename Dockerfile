FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends openssh-client openssh-server rsync procps \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY socs_like socs_like
COPY agents agents
RUN pip install --no-cache-dir '.[hub]'
COPY site-config.yaml /config/default.yaml
ENV OCS_CONFIG_DIR=/config
ENTRYPOINT ["socs-like"]
