FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY src ./src
COPY proto ./proto
RUN pip install --no-cache-dir . && useradd --system --uid 10001 payments
USER payments
EXPOSE 8000 50051
# Production by default: the service refuses to start on test keys, weak secrets or missing TLS
# (docs/security.md). It listens on loopback unless the deployment sets PAYMENTS_HTTP_HOST (e.g. 0.0.0.0
# when a container port is published on a private network), so exposure is a choice made where it is seen.
ENV PAYMENTS_ENV=prod
CMD ["sh", "-c", "payments db upgrade && exec payments serve"]
