"""``open_storage(url)``: the one place that maps a storage URL to an opened store."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from ..config import Settings
from ..errors import ConfigError
from .base import MiB, Storage
from .local import LocalStorage

#: the stores addressed by a bucket (container) and a prefix, with what the host part names
BUCKET_SCHEMES = {"s3": "bucket", "gs": "bucket", "az": "container"}


def parse_storage_url(storage_url: str) -> tuple[str, str, str]:
    """``file:///abs/path`` -> ("file", "", "/abs/path"); ``s3://bucket/prefix`` ->
    ("s3", "bucket", "prefix"), and the same for ``gs://bucket/prefix`` and
    ``az://container/prefix``. Anything else raises ConfigError naming the URL."""
    parts = urlsplit(storage_url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigError(
                f"storage URL {storage_url!r}: a file URL needs an absolute path, "
                "e.g. file:///data/objects"
            )
        return "file", "", unquote(parts.path)
    if parts.scheme in BUCKET_SCHEMES:
        if not parts.netloc or parts.query or parts.fragment:
            what = BUCKET_SCHEMES[parts.scheme]
            raise ConfigError(
                f"storage URL {storage_url!r}: expected {parts.scheme}://{what} or "
                f"{parts.scheme}://{what}/prefix"
            )
        return parts.scheme, parts.netloc, parts.path.strip("/")
    raise ConfigError(
        f"unsupported storage URL {storage_url!r}: expected file:///absolute/path, "
        "s3://bucket[/prefix], gs://bucket[/prefix] or az://container[/prefix]"
    )


async def open_storage(
    storage_url: str,
    *,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    concurrency: int = 64,
    multipart_threshold_mb: int = 16,
    timeout_s: float = 60.0,
    lean_put: bool = True,
    azure_account_url: str = "",
) -> Storage:
    """An opened store for ``storage_url``; the caller closes it (``await store.close()``).

    ``concurrency`` sizes the S3 connection pool (one connection per upload in flight);
    ``lean_put`` turns the lean single-request PUT path on or off (``s3.S3Storage``);
    ``azure_account_url``: the account of ``az://`` stores without a connection string.
    Each cloud SDK is imported only for its own stores.
    """
    scheme, bucket, path = parse_storage_url(storage_url)
    if scheme == "file":
        return await LocalStorage(path).open()
    threshold = int(multipart_threshold_mb * MiB)
    if scheme == "gs":
        from .gcs import GCSStorage

        return await GCSStorage(
            bucket,
            path,
            max_pool_connections=max(1, concurrency),
            multipart_threshold=threshold,
            timeout_s=timeout_s,
        ).open()
    if scheme == "az":
        from .azure import AzureStorage

        return await AzureStorage(
            bucket,
            path,
            account_url=azure_account_url,
            max_pool_connections=max(1, concurrency),
            multipart_threshold=threshold,
            timeout_s=timeout_s,
        ).open()
    from .s3 import S3Storage  # aioboto3 is only imported for S3 stores

    store = S3Storage(
        bucket,
        path,
        endpoint_url=endpoint_url or None,
        region=region,
        max_pool_connections=max(1, concurrency),
        multipart_threshold=threshold,
        timeout_s=timeout_s,
        lean_put=lean_put,
        defer_client=True,  # uploads start at once; the client only if a non-lean op needs it
    )
    try:
        return await store.open()
    except ValueError as exc:  # botocore: "Invalid endpoint: ..."
        raise ConfigError(
            f"storage URL {storage_url!r} with S3 endpoint {endpoint_url!r}: {exc}"
        ) from exc


async def open_configured_storage(
    settings: Settings, *, url: str | None = None, concurrency: int | None = None
) -> Storage:
    """``open_storage`` with the store settings of ``settings``: the configured store, or the
    store at ``url`` on the same endpoint; ``concurrency`` overrides the pool size."""
    s = settings
    return await open_storage(
        url or s.storage_url,
        endpoint_url=s.s3_endpoint_url or None,
        region=s.s3_region,
        concurrency=s.concurrency if concurrency is None else concurrency,
        multipart_threshold_mb=s.multipart_threshold_mb,
        timeout_s=s.upload_timeout_s,
        lean_put=bool(s.s3_lean_put),
        azure_account_url=s.azure_account_url,
    )
