# Build a static binary, then run it as a non-root user on an empty base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/jwt-up ./cmd/jwt-up \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/jwt-up /usr/local/bin/jwt-up
COPY --from=build --chown=65532:65532 /out/data /data
ENV JWTUP_DATA_DIR=/data \
    JWTUP_LISTEN=:8080
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/jwt-up"]
CMD ["serve"]
