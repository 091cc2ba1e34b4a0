"""What the library facade's classes share (``api.py``, ``api_dataset.py``): the sync twins
of async methods, methods callable on the class or an instance, and the downloader that
``SingleFrame.get_local_source()`` uses."""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

from . import runtime
from .localsource import set_local_copier


class blocking:
    """The sync twin of the async method ``<name>_async`` (class or instance method)."""

    def __init__(self, async_name: str) -> None:
        self.async_name = async_name

    def __get__(self, obj: Any, owner: type) -> Callable[..., Any]:
        target = getattr(obj if obj is not None else owner, self.async_name)

        @functools.wraps(target)
        def call(*args: Any, **kwargs: Any) -> Any:
            return runtime.run_sync(target(*args, **kwargs))

        call.__doc__ = f"Blocking form of ``{self.async_name}``. {target.__doc__ or ''}"
        return call


class hybrid:
    """A method callable on the class or on an instance, as the reference's are
    (``DatasetVersion.create_version(dataset_name=...)`` and ``version.create_version(...)``):
    its first argument is the instance, or the class."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __get__(self, obj: Any, owner: type) -> Callable[..., Any]:
        return types.MethodType(self.fn, obj if obj is not None else owner)


async def _local_copy_async(uri: str) -> str:
    return await (await runtime.get_app()).local_copy(uri)


set_local_copier(lambda uri: runtime.run_sync(_local_copy_async(uri)), _local_copy_async)
