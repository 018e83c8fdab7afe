# Oesophagus, as `docker compose up` runs it: the same CLI as `deno task start`, dependencies
# fetched and type-checked at build time, run as the image's unprivileged `deno` user.
ARG DENO_VERSION=2.9.6
FROM denoland/deno:debian-${DENO_VERSION}

WORKDIR /app
# Dependencies first, so a code change does not refetch them.
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY src/ src/
COPY actors/ actors/
COPY supervision/ supervision/
COPY producer.json ./
RUN deno cache --frozen src/main.ts && chown -R deno:deno /app "$DENO_DIR"

USER deno
EXPOSE 9464
# Keep in step with deno.json's "start" task (test/e2e/deployment_test.ts checks it).
ENTRYPOINT ["deno", "run", "--allow-all", "--v8-flags=--max-semi-space-size=8", "src/main.ts"]
CMD ["run", "--config", "/app/producer.json", "--progress", "log"]
