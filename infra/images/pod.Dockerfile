# Builds one always-on pod (connector, smtp-listener, scheduler) from the module:
#   docker build --build-arg CMD=connector -t ghcr.io/caliopen/connector:dev -f infra/images/pod.Dockerfile .
#   docker build --build-arg CMD=smtp-listener -t ghcr.io/caliopen/smtp-listener:dev -f infra/images/pod.Dockerfile .
FROM --platform=${BUILDPLATFORM:-linux/amd64} golang:1.26-alpine AS build
ARG CMD
ARG TARGETOS
ARG TARGETARCH
ARG GOPROXY=""
ENV GOTOOLCHAIN=local CGO_ENABLED=0
RUN test -n "${CMD}" || { echo "build arg CMD (connector or smtp-listener) is required" >&2; exit 1; }
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY connector ./connector
COPY functions ./functions
COPY internal ./internal
RUN GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w" -o /out/pod ./cmd/${CMD}

FROM alpine:3.22
RUN apk --no-cache add ca-certificates
COPY --from=build /out/pod /usr/local/bin/pod
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/pod"]
