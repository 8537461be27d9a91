# syntax=docker/dockerfile:1
# fleetrate images, all on Debian 12:
#   docker build -t fleetrate-server .                          # the server (default target)
#   docker build --target demo -t fleetrate-demo .              # examples/instrumented_app
# The builder compiles with Debian's packages; the runtime images hold only a program and the
# Debian runtime libraries it links, and run as an unprivileged user.

ARG DEBIAN_IMAGE=debian:12-slim

FROM ${DEBIAN_IMAGE} AS builder
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake g++ ninja-build pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libboost-dev prometheus-cpp-dev libyaml-cpp-dev libhiredis-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY proto proto
COPY client client
COPY server server
COPY cli cli
COPY examples examples
# Tests and benchmarks stay out of the image build: the suite runs in CI, not here.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DFLEETRATE_BUILD_TESTS=OFF -DFLEETRATE_BUILD_BENCHMARKS=OFF \
 && cmake --build /build \
 && cmake --install /build --prefix /opt/fleetrate --strip \
 && cmake -S examples/instrumented_app -B /build-demo -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH=/opt/fleetrate \
 && cmake --build /build-demo

# Runtime libraries shared by both images (what `ldd fleetrate-server` lists, by package;
# hiredis is the Redis store's client).
FROM ${DEBIAN_IMAGE} AS runtime-base
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libprometheus-cpp-core1.0 libyaml-cpp0.7 libhiredis0.14 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 fleetrate \
 && useradd --system --uid 10001 --gid fleetrate --home-dir /nonexistent --shell /usr/sbin/nologin fleetrate

FROM runtime-base AS demo
COPY --from=builder /build-demo/instrumented_app /usr/local/bin/instrumented_app
USER 10001:10001
# instrumented_app [SERVER] [SECONDS] [SPANS.jsonl | otlp://HOST:PORT]: a minute against the
# compose service "fleetrate", spans dropped, then a summary line on stdout.
ENTRYPOINT ["/usr/local/bin/instrumented_app"]
CMD ["fleetrate:8081", "60", "/dev/null"]

FROM runtime-base AS runtime
COPY --from=builder /opt/fleetrate/bin/fleetrate-server /usr/local/bin/fleetrate-server
# The operator CLI, for `docker-compose exec fleetrate-1 fleetratectl status`.
COPY --from=builder /opt/fleetrate/bin/fleetratectl /usr/local/bin/fleetratectl
COPY config/ /etc/fleetrate/
USER 10001:10001
EXPOSE 8081 5778
ENV FLEETRATE_CONFIG=/etc/fleetrate/policies.yaml
# Bash's /dev/tcp, so the image needs no HTTP client: /healthz answers 200 while the process
# serves, 503 once its own probe of the gRPC port failed 3 times in a row (docs/operations.md).
# (Kubernetes uses its own probes, see helm/fleetrate.)
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/5778 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
# SIGTERM drains in-flight calls; give it the time Kubernetes gives (30 s) before SIGKILL.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/fleetrate-server"]
