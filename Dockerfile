# TicketMax: the release binary built in a Rust image, run from a slim Debian as a non-root user.
# SQLite keeps its file under /app/data (a volume); with DATABASE_URL=postgres://… the container
# keeps no state. docs/DEPLOYMENT.md has the whole story.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, in a layer of their own: a code change rebuilds only the crate itself.
COPY Cargo.toml Cargo.lock ./
# Cargo.toml names the benches, so cargo wants their files even to build the binary.
COPY benches ./benches
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
COPY migrations ./migrations
# The stub's artifacts are older than the real sources; touching them makes cargo rebuild.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM debian:bookworm-slim
# curl serves the HEALTHCHECK only; ca-certificates the payment, SMS and S3 APIs over TLS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin ticketmax \
    && mkdir -p /app/data \
    && chown ticketmax /app/data
COPY --from=build /src/target/release/ticketmax /usr/local/bin/ticketmax
WORKDIR /app
USER ticketmax
ENV APP_ENV=production \
    PORT=3000 \
    LOG_FORMAT=json \
    DATABASE_URL=sqlite:///app/data/ticketmax.db \
    UPLOAD_DEST=/app/data/uploads \
    EMAIL_FILE_DIR=/app/data/mail
VOLUME ["/app/data"]
EXPOSE 3000
# /health answers 503 from the moment a SIGTERM starts the drain.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:3000/health || exit 1
# The binary is PID 1 and handles SIGTERM itself: it stops accepting, finishes requests in
# flight within SHUTDOWN_TIMEOUT_SECS, then exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ticketmax"]
CMD ["serve"]
