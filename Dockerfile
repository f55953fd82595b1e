# The harvester's image: the four binaries (harvester, receiver, fetcher,
# normalizer) in /usr/local/bin, statically linked, on an empty base with CA
# certificates, running as a non-root user. deploy/k8s runs one binary per
# Deployment (command: ["/usr/local/bin/receiver"] and so on).
#
#   docker build -t dbt-harvester/harvester:dev .
#   docker run --rm dbt-harvester/harvester:dev --help
#   docker run --rm --entrypoint /usr/local/bin/receiver -e NATS_URL=... dbt-harvester/harvester:dev
#
# The Go of go.work (go 1.26.8): an older one would fetch that toolchain first.
FROM golang:1.26.8 AS build
WORKDIR /src
# Modules first, so that a change of source does not download them again.
COPY go.work go.work.sum ./
COPY events/go.mod events/go.sum events/
COPY services/go.mod services/go.sum services/
RUN go mod download
COPY events/ events/
COPY services/ services/
RUN mkdir /out && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ \
      ./services/harvester ./services/receiver ./services/fetcher ./services/normalizer

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/ /usr/local/bin/
# The numeric user the manifests' securityContext names (runAsUser 65532);
# no shell, no package manager, nothing to write to but mounted volumes.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/harvester"]
