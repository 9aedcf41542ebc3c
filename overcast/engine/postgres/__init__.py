"""The PostgreSQL engine (``postgresql://``): psycopg 3 and a connection pool, imported only
when such a URL is opened. See ``engine.py``.

Before changing: importing anything in this package without the driver installed must fail
with the one-line ``ConfigError`` below, never an ImportError from deep inside.
"""

from __future__ import annotations

from overcast.errors import ConfigError

try:
    import psycopg  # noqa: F401
    import psycopg_pool  # noqa: F401
except ImportError:
    raise ConfigError("the PostgreSQL engine needs psycopg: pip install 'overcast[postgres]'") from None
