"""The variants the harness knows: name -> "module:Class", imported only when used.

Adding a variant is adding its module and one line here. The order is the order of the
report's tables and charts.
"""

from __future__ import annotations

import importlib
from functools import cache

from implementations.contract import Variant

VARIANTS: dict[str, str] = {
    "orm": "implementations.orm:OrmVariant",
    "orm_lazy": "implementations.orm:OrmLazyLoadingVariant",
    "orm_joined": "implementations.orm:OrmJoinedLoadingVariant",
    "orm_collection": "implementations.orm:OrmCollectionAppendVariant",
    "orm_bulk": "implementations.orm_bulk:OrmBulkVariant",
    "core": "implementations.core:CoreVariant",
    "core_inline": "implementations.core:CoreInlineVariant",
    "dbapi": "implementations.dbapi:DbapiVariant",
    "orm_async": "implementations.orm_async:OrmAsyncVariant",
    "orm_asyncpg": "implementations.orm_async:OrmAsyncpgVariant",
    "core_async": "implementations.core_async:CoreAsyncVariant",
    "dbapi_async": "implementations.dbapi_async:DbapiAsyncVariant",
    "asyncpg": "implementations.asyncpg_driver:AsyncpgVariant",
    "engine_per_use": "implementations.connection_patterns:EnginePerUseVariant",
    "nullpool": "implementations.connection_patterns:NullPoolVariant",
    "dbapi_per_use": "implementations.connection_patterns:DbapiConnectPerUseVariant",
    "orm_scoped": "implementations.orm:OrmScopedSessionVariant",
}


#: the variant every other is compared with: the raw driver
BASELINE_VARIANT = "dbapi"
#: the style whose cost over the baseline the report's findings follow from the smallest size
#: to the largest: the ORM's unit of work, the style most applications are written in
GROWTH_VARIANT = "orm"


class UnknownVariant(KeyError):
    pass


@cache
def load_variant(name: str) -> type[Variant]:
    """Import the variant's module and return its class."""
    try:
        target = VARIANTS[name]
    except KeyError:
        raise UnknownVariant(name) from None
    module_name, _, class_name = target.partition(":")
    variant_class: type[Variant] = getattr(importlib.import_module(module_name), class_name)
    variant_class.name = name
    return variant_class
