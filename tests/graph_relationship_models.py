"""Entities with relationships, resolvers that read through them, and synthetic data with the hard cases.

An Order has two has-one relationships to Customer (a str key, one of them through left_on and
right_on), a has-one relationship to Store on a composite key (city, day), and a has-many
relationship to Txn on user_id. The data has null keys, keys without a partner, a composite
key with a null part, non-ASCII keys, users with no transactions, users whose transactions a
filter drops, and null amounts, prices and categories.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa

import featurejit as fj

BIG_AMOUNT = 100
TREATS = ("food", "bar")


@fj.features
class Customer:
    code: str = fj.primary_key()
    age: int | None
    score: float | None
    tier: str | None


@fj.features
class Store:
    id: int
    city: str
    day: datetime.datetime
    footfall: int | None


@fj.features
class Txn:
    id: int
    user_id: int | None
    amount: int | None
    price: float | None
    category: str | None


@fj.features
class Order:
    id: int
    customer_code: str | None
    referrer_code: str | None
    city: str | None
    day: datetime.datetime | None
    user_id: int
    quantity: int
    customer: Customer = fj.has_one(lambda: Customer.code == Order.customer_code)
    referrer: Customer = fj.has_one(left_on="referrer_code", right_on="code")
    store: Store = fj.has_one(on=["city", "day"])
    txns: list[Txn] = fj.has_many(lambda: Txn.user_id == Order.user_id)
    discount: float | None
    same_tier: bool | None
    busy: bool | None
    big_spend: int
    treat_price: float | None
    amount_range: int | None


@fj.jit_resolver
def discount(quantity: Order.quantity, age: Order.customer.age, score: Order.customer.score) -> Order.discount:
    if age is None or score is None:
        return None
    return quantity * score / (age + 1)


@fj.jit_resolver
def same_tier(mine: Order.customer.tier, theirs: Order.referrer.tier) -> Order.same_tier:
    if mine is None or theirs is None:
        return None
    return mine == theirs


@fj.jit_resolver
def busy(footfall: Order.store.footfall) -> Order.busy:
    return None if footfall is None else footfall > 500


@fj.jit_resolver
def big_spend(
    total: Order.txns[Txn.amount > BIG_AMOUNT, Txn.amount].sum(), quantity: Order.quantity
) -> Order.big_spend:
    return total + quantity


@fj.jit_resolver
def treat_price(mean: Order.txns[Txn.category.isin(TREATS), Txn.price].mean()) -> Order.treat_price:
    return mean


@fj.jit_resolver
def amount_range(low: Order.txns[Txn.amount].min(), high: Order.txns[Txn.amount].max()) -> Order.amount_range:
    if low is None or high is None:
        return None
    return high - low


RESOLVERS = [discount, same_tier, busy, big_spend, treat_price, amount_range]
COMPUTED = ["discount", "same_tier", "busy", "big_spend", "treat_price", "amount_range"]
CODES = [f"c{number}" for number in range(40)] + ["ç40", "日41"]
CITIES = ["Oslo", "Lima", "Pune", "Zürich"]
CATEGORIES = ["food", "bar", "fuel", "rent"]
FIRST_DAY = datetime.datetime(2024, 5, 1)


def masked(generator: np.random.Generator, values: list[Any], share: float, arrow_type: pa.DataType | None = None) -> pa.Array:
    return pa.array(values, type=arrow_type, mask=generator.random(len(values)) < share)


def customers(seed: int = 3) -> pa.Table:
    """Customers of every code but the last three plain ones, so that some orders have no partner."""
    generator = np.random.default_rng(seed)
    codes = CODES[:37] + CODES[40:]
    rows = len(codes)
    tiers = [["gold", "silver", "bronze"][index] for index in generator.integers(0, 3, rows)]
    return pa.table(
        {
            "code": codes,
            "age": masked(generator, generator.integers(18, 90, rows).tolist(), 0.1),
            "score": masked(generator, (generator.integers(0, 40, rows) * 0.25).tolist(), 0.1),
            "tier": masked(generator, tiers, 0.1),
        }
    )


def stores(seed: int = 4) -> pa.Table:
    """One store per city and day for ten days, minus a few pairs, with footfall as int32."""
    generator = np.random.default_rng(seed)
    pairs = [(city, FIRST_DAY + datetime.timedelta(days=day)) for city in CITIES for day in range(10)]
    pairs = [pair for index, pair in enumerate(pairs) if index % 7 != 3]
    return pa.table(
        {
            "id": pa.array(np.arange(len(pairs)), type=pa.int64()),
            "city": [city for city, _ in pairs],
            "day": pa.array([day for _, day in pairs], type=pa.timestamp("us")),
            "footfall": masked(generator, generator.integers(0, 1000, len(pairs)).tolist(), 0.1, pa.int32()),
        }
    )


def txns(rows: int = 900, seed: int = 5) -> pa.Table:
    """Transactions of users 0 to 59 (never 60 to 79), with null users, amounts, prices and categories."""
    generator = np.random.default_rng(seed)
    users = generator.integers(0, 60, rows).tolist()
    return pa.table(
        {
            "id": pa.array(np.arange(rows), type=pa.int64()),
            "user_id": masked(generator, users, 0.05, pa.int32()),
            "amount": masked(generator, generator.integers(-50, 400, rows).tolist(), 0.1),
            "price": masked(generator, (generator.integers(0, 400, rows) * 0.25).tolist(), 0.1),
            "category": masked(generator, [CATEGORIES[index] for index in generator.integers(0, 4, rows)], 0.1),
        }
    )


def orders(rows: int = 400, seed: int = 6) -> pa.Table:
    generator = np.random.default_rng(seed)
    days = [FIRST_DAY + datetime.timedelta(days=int(day)) for day in generator.integers(0, 11, rows)]
    return pa.table(
        {
            "id": pa.array(np.arange(rows) * 5 + 1, type=pa.int64()),
            "customer_code": masked(generator, [CODES[index] for index in generator.integers(0, len(CODES), rows)], 0.08),
            "referrer_code": masked(generator, [CODES[index] for index in generator.integers(0, len(CODES), rows)], 0.3),
            "city": masked(generator, [CITIES[index] for index in generator.integers(0, len(CITIES), rows)], 0.05),
            "day": masked(generator, days, 0.05, pa.timestamp("us")),
            "user_id": pa.array(generator.integers(0, 80, rows), type=pa.int64()),
            "quantity": pa.array(generator.integers(1, 9, rows), type=pa.int64()),
        }
    )


def sources() -> dict[Any, pa.Table]:
    return {Order: orders(), Customer: customers(), Store: stores(), Txn: txns()}


def child_aggregates(txn_rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Compute the has-many aggregations of each user in plain Python, as a Chalk user expects them."""
    by_user: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in txn_rows:
        if row["user_id"] is not None:
            by_user[row["user_id"]].append(row)
    result = {}
    for user in range(80):
        children = by_user.get(user, [])
        big = [row["amount"] for row in children if row["amount"] is not None and row["amount"] > BIG_AMOUNT]
        treats = [row["price"] for row in children if row["category"] in TREATS and row["price"] is not None]
        amounts = [row["amount"] for row in children if row["amount"] is not None]
        result[user] = {
            "txns.count()": len(children),
            "big_total": sum(big),
            "treat_mean": sum(treats) / len(treats) if treats else None,
            "amount_min": min(amounts) if amounts else None,
            "amount_max": max(amounts) if amounts else None,
            "amount_count": len(amounts),
        }
    return result
