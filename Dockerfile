FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY src ./src
COPY proto ./proto
RUN pip install --no-cache-dir . && useradd --system --uid 10001 payments
USER payments
EXPOSE 8000 50051
ENV PAYMENTS_HTTP_HOST=0.0.0.0
CMD ["sh", "-c", "payments db upgrade && exec payments serve"]
