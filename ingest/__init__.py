"""frame-ingest: register multi-sensor FrameGroups into versioned datasets."""

from .api import Dataset, DatasetVersion
from .config import Settings, load_settings
from .errors import (
    AlreadyExistsError,
    CatalogError,
    ConfigError,
    DatasetNotFound,
    FrameNotFound,
    IngestError,
    NotFoundError,
    PermanentStorageError,
    PublishedVersionError,
    StorageError,
    TransientStorageError,
    ValidationError,
    VersionNotFound,
)
from .frames import Annotation, FrameGroup, ImageAnnotation, SingleFrame
from .report import RejectedFrame, Report
from .runtime import aclose, configure, get_settings

__all__ = [
    "AlreadyExistsError",
    "Annotation",
    "CatalogError",
    "ConfigError",
    "Dataset",
    "DatasetNotFound",
    "DatasetVersion",
    "FrameGroup",
    "FrameNotFound",
    "ImageAnnotation",
    "IngestError",
    "NotFoundError",
    "PermanentStorageError",
    "PublishedVersionError",
    "RejectedFrame",
    "Report",
    "Settings",
    "SingleFrame",
    "StorageError",
    "TransientStorageError",
    "ValidationError",
    "VersionNotFound",
    "aclose",
    "configure",
    "get_settings",
    "load_settings",
]
