# Images for the API and a CPU training worker (docker build --target api | --target worker).
# The GPU worker has its own Dockerfile.gpu. Ubuntu 24.04 bases: libstdc++ is new enough for TorchSharp, so the
# build's GLIBCXX patch step does nothing here.

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
WORKDIR /src
COPY global.json Directory.Build.props Directory.Build.targets Directory.Packages.props ./
COPY build/ build/
COPY src/ src/
RUN dotnet publish src/Api -c Release -o /out/api \
 && dotnet publish src/Worker -c Release -o /out/worker

FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble AS runtime
# jemalloc keeps libtorch's memory flat (glibc malloc grows every training step); curl serves the HEALTHCHECK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjemalloc2 curl \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data \
 && chown "$APP_UID" /data
ENV LD_PRELOAD=libjemalloc.so.2 \
    MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1 \
    ASPNETCORE_HTTP_PORTS=8080 \
    Management__Urls=http://+:9464 \
    Storage__DataDirectory=/data \
    Logging__Console__FormatterName=json \
    Logging__Console__FormatterOptions__IncludeScopes=true
WORKDIR /app
# 8080: the service and the probes; 9464: /metrics and the probes only (Management__Urls), never published.
EXPOSE 8080 9464
HEALTHCHECK --interval=30s --timeout=5s --retries=5 CMD curl -fsS http://localhost:8080/healthz/live || exit 1

FROM runtime AS worker
COPY --from=build /out/worker .
USER $APP_UID
ENTRYPOINT ["dotnet", "Pix2Pix.Worker.dll"]

FROM runtime AS api
COPY --from=build /out/api .
USER $APP_UID
ENTRYPOINT ["dotnet", "Pix2Pix.Api.dll"]
