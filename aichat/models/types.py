"""Column types shared by the models."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Integer, Numeric
from sqlalchemy.types import TypeDecorator

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER primary key.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Money(TypeDecorator):
    """An exact amount of money, `Decimal` in Python.

    PostgreSQL stores it as NUMERIC(precision, scale). SQLite has no exact decimal type (a
    NUMERIC column holds floats there), so it stores a whole number of 10^-scale units,
    which SQLite adds up exactly: 0.0000012 at scale 10 is stored as 12000. Sums and
    comparisons in SQL work on both, and every value read back is a `Decimal`.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 20, scale: int = 10):
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self._unit = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("Money takes Decimal, int or str, never float")
        amount = Decimal(value).quantize(self._unit)
        if dialect.name == "sqlite":
            return int(amount.scaleb(self.scale))
        return amount

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value).quantize(self._unit)

    def copy(self, **kw):
        return Money(self.precision, self.scale)
