"""Relationships that cannot work raise errors that name the features involved."""

from __future__ import annotations

import pyarrow as pa
import pytest

import featurejit as fj
from featurejit.graph.errors import GraphError


@fj.features
class Account:
    code: str = fj.primary_key()
    balance: int | None
    name: str | None


@fj.features
class Payment:
    id: int
    account_id: int | None
    amount: int | None
    note: str | None


@fj.features
class Invoice:
    id: int
    account_code: str | None
    account_number: int
    total: int
    account: Account = fj.has_one(lambda: Account.code == Invoice.account_code)
    by_number: Account = fj.has_one(left_on="account_number", right_on="code")
    pair: Account = fj.has_one(left_on=["account_code", "account_number"], right_on=["code"])
    payments: list[Payment] = fj.has_many(left_on="account_number", right_on="account_id")
    self_compared: Account = fj.has_one(lambda: Invoice.account_code == Invoice.account_code)
    wrong_kind: list[Account] = fj.has_one(on="code")
    balance_left: int | None


ACCOUNTS = pa.table({"code": ["a", "b", "b"], "balance": [1, 2, 3], "name": ["x", "y", "z"]})
INVOICES = pa.table(
    {"id": [1, 2], "account_code": ["a", "b"], "account_number": [7, 8], "total": [10, 20]}
)


def test_int_key_against_str_key_names_both() -> None:
    with pytest.raises(GraphError, match=r"Invoice\.by_number joins Invoice\.account_number \(int\) with Account\.code \(str\)"):
        Invoice.by_number.balance  # noqa: B018 - reading the attribute resolves the relationship
    with pytest.raises(GraphError, match="an int key never equals a str key"):
        Invoice.by_number.balance  # noqa: B018


def test_key_count_mismatch_names_features() -> None:
    with pytest.raises(GraphError, match=r"joins 2 key feature\(s\) of Invoice \(Invoice\.account_code, Invoice\.account_number\) with 1 of Account \(Account\.code\)"):
        Invoice.pair.balance  # noqa: B018


def test_condition_within_one_entity() -> None:
    with pytest.raises(GraphError, match=r"compares Invoice\.account_code with Invoice\.account_code"):
        Invoice.self_compared.balance  # noqa: B018


def test_annotation_of_wrong_kind() -> None:
    with pytest.raises(GraphError, match=r"Invoice\.wrong_kind is a has-one relationship annotated list\[.*Account\]"):
        Invoice.wrong_kind.balance  # noqa: B018


def test_target_without_source() -> None:
    @fj.jit_resolver
    def left(total: Invoice.total, balance: Invoice.account.balance) -> Invoice.balance_left:
        return None if balance is None else balance - total

    with pytest.raises(GraphError, match=r"Invoice\.account joins Account, which has no source, but \S*left reads Invoice\.account\.balance"):
        fj.Graph([left], sources={Invoice: INVOICES})


def test_target_key_not_in_source() -> None:
    @fj.jit_resolver
    def left(total: Invoice.total, balance: Invoice.account.balance) -> Invoice.balance_left:
        return None if balance is None else balance - total

    with pytest.raises(GraphError, match=r"joins on Account\.code, but the source of Account, .* has no column code"):
        fj.Graph([left], sources={Invoice: INVOICES, Account: ACCOUNTS.drop_columns(["code"])})


def test_duplicate_partner_key_online_and_offline() -> None:
    graph = fj.Graph([], sources={Invoice: INVOICES, Account: ACCOUNTS})
    with pytest.raises(GraphError, match=r"Invoice\.account is a has-one relationship, but .* several rows with code = 'b'"):
        graph.query([Invoice.account.balance], {Invoice.id: 1})
    with pytest.raises(GraphError, match=r"several rows with code = 'b'"):
        graph.query_table([Invoice.account.balance])


def test_filters_that_python_cannot_build() -> None:
    with pytest.raises(GraphError, match=r"is given False, which Python's `in` or `and` returns"):
        Invoice.payments[Payment.note in ("a", "b")]
    with pytest.raises(TypeError, match="has no truth value"):
        Invoice.payments[(Payment.amount > 1) and (Payment.amount < 5)]


def test_aggregations_that_do_not_fit() -> None:
    with pytest.raises(GraphError, match=r"sum takes int, float or bool features"):
        Invoice.payments[Payment.note].sum()
    with pytest.raises(GraphError, match=r"needs a feature to aggregate"):
        Invoice.payments[Payment.amount > 3].mean()
    with pytest.raises(GraphError, match=r"filters on Invoice\.total, which is not a feature of Payment"):
        Invoice.payments[Invoice.total > 3]
    with pytest.raises(GraphError, match=r"compares Payment\.note, declared str \| None, with 3"):
        Invoice.payments[Payment.note == 3]


def test_resolver_cannot_write_through_a_relationship() -> None:
    @fj.jit_resolver
    def write(total: Invoice.total) -> Invoice.account.balance:
        return total

    with pytest.raises(GraphError, match=r"write writes Invoice\.account\.balance, which is read through a relationship"):
        fj.Graph([write], sources={Invoice: INVOICES, Account: ACCOUNTS})


def test_entity_annotation_without_relationship() -> None:
    with pytest.raises(GraphError, match=r"Loose\.account is annotated with the entity Account; declare the relationship with = featurejit\.has_one"):

        @fj.features
        class Loose:
            id: int
            account: Account


@fj.features
class Left:
    id: int
    right_id: int
    x: int | None
    right: Right = fj.has_one(lambda: Right.id == Left.right_id)


@fj.features
class Right:
    id: int
    left_id: int
    y: int | None
    left: Left = fj.has_one(lambda: Left.id == Right.left_id)


def test_cycle_through_relationships() -> None:
    @fj.jit_resolver
    def make_x(y: Left.right.y) -> Left.x:
        return y

    @fj.jit_resolver
    def make_y(x: Right.left.x) -> Right.y:
        return x

    tables = {Left: pa.table({"id": [1], "right_id": [1]}), Right: pa.table({"id": [1], "left_id": [1]})}
    with pytest.raises(GraphError, match=r"the resolvers form a cycle: .*Left\.right\.y.*Right\.left\.x"):
        fj.Graph([make_x, make_y], sources=tables)


def test_int_sum_overflow_raises() -> None:
    payments = pa.table({"id": [1, 2, 3], "account_id": [7, 7, 8], "amount": [2**62, 2**62, 5], "note": ["", "", ""]})
    graph = fj.Graph([], sources={Invoice: INVOICES, Payment: payments})
    total = Invoice.payments[Payment.amount].sum()
    # Both name the invoice whose payments overflow by its key, not by an internal column.
    with pytest.raises(OverflowError, match=r"for the child rows of Invoice.account_number = 7, which does not fit in int64"):
        graph.query_table([total])
    with pytest.raises(OverflowError, match=r"for the child rows of Invoice.account_number = 7, which does not fit in int64"):
        graph.query([total], {Invoice.id: [1]})
    fitting = payments.set_column(2, "amount", pa.array([2**62, 2**62 - 1, -(2**62)]))
    graph = fj.Graph([], sources={Invoice: INVOICES, Payment: fitting})
    assert graph.query_table([total]).column(0).to_pylist() == [2**63 - 1, -(2**62)]


def test_child_rows_without_aggregate_are_rejected() -> None:
    @fj.jit_resolver
    def largest(amounts: Invoice.payments[Payment.amount > 3, Payment.amount]) -> Invoice.total:
        return amounts  # type: ignore[return-value]

    with pytest.raises(
        GraphError,
        match=r"reads Invoice.payments\[Payment.amount > 3, Payment.amount\], the child rows of a has-many .* add .count\(\)",
    ):
        fj.Graph([largest], sources={Invoice: INVOICES})
