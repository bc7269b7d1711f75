FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY router ./router
COPY rules ./rules
COPY templates ./templates
RUN pip install --no-cache-dir .
ENV ROUTER_RULES_DIR=/app/rules ROUTER_TEMPLATES_DIR=/app/templates/email
# The outbox volume's mount point, owned by the user the image runs as: a fresh named
# volume takes this ownership, so `nobody` can write emails there.
RUN mkdir -p /var/outbox && chown nobody:nogroup /var/outbox
USER nobody
CMD ["router", "api", "--host", "0.0.0.0", "--port", "8080"]
