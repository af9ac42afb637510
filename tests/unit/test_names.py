import itertools

import pytest

from etl_bigquery.engine.schema.names import (
    MAX_COLUMN_NAME,
    AmbiguousColumn,
    TableNames,
    map_column_names,
    resolve_column_names,
    sanitize_column_name,
)


def test_invalid_characters_become_underscores_and_names_are_lower_case():
    assert sanitize_column_name("Unit Price (€)") == "unit_price____"
    assert sanitize_column_name("DiscountApplied(%)") == "discountapplied___"
    assert sanitize_column_name("order-id") == "order_id"


def test_accents_are_dropped_rather_than_replaced():
    assert sanitize_column_name("Café") == "cafe"


def test_a_leading_digit_gets_an_underscore():
    assert sanitize_column_name("2nd_address") == "_2nd_address"


def test_reserved_prefixes_and_our_metadata_prefix_are_avoided():
    assert sanitize_column_name("_PARTITIONTIME") == "col_partitiontime"
    assert sanitize_column_name("_etl_loaded_at") == "col_etl_loaded_at"


def test_names_are_cut_to_300_characters():
    assert len(sanitize_column_name("x" * 400)) == MAX_COLUMN_NAME


def test_collisions_get_numbered_suffixes_by_source_name_and_are_never_merged():
    mapping = map_column_names(["Name", "name", "NAME!", "name_2"])
    # "Name" < "name" in code-point order; "name_2" is a source column and keeps its own name.
    assert mapping == {"Name": "name", "name": "name_3", "NAME!": "name_", "name_2": "name_2"}
    assert len(set(mapping.values())) == 4


def test_new_names_do_not_depend_on_the_order_columns_arrive_in():
    names = ["Price (€)", "Price ($)", "price", "a b", "a-b", "a_b", "A B", "a_b_2"]
    first = map_column_names(names)
    for order in itertools.permutations(names):
        assert map_column_names(order) == first
    assert first["Price ($)"] == "price____" and first["Price (€)"] == "price_____2"


def test_suffixed_names_still_fit_the_length_limit():
    long = "y" * 400
    mapping = map_column_names([long, long + "!"])
    assert all(len(v) <= MAX_COLUMN_NAME for v in mapping.values())
    assert len(set(mapping.values())) == 2


def test_metadata_column_names_are_never_given_to_source_columns():
    mapping = map_column_names(["x"], taken=["x"])
    assert mapping["x"] == "x_2"


def _table(described: dict[str, str], undescribed: tuple[str, ...] = ()) -> TableNames:
    return TableNames(described, undescribed)


def test_a_table_column_keeps_the_source_column_its_description_names_in_any_order():
    table = _table({"id": "id", "Price (€)": "price____", "Price ($)": "price_____2"})
    for order in itertools.permutations(["id", "Price ($)", "Price (€)"]):
        assert resolve_column_names(order, table) == {
            "id": "id",
            "Price (€)": "price____",
            "Price ($)": "price_____2",
        }


def test_new_columns_get_names_the_table_does_not_hold_yet():
    table = _table({"Price (€)": "price____"}, ("_etl_loaded_at",))
    mapping = resolve_column_names(["Price ($)", "Price (€)", "Price (£)"], table)
    assert mapping["Price (€)"] == "price____"
    # New ones, by source name: '$' (U+0024) < '£' (U+00A3).
    assert (mapping["Price ($)"], mapping["Price (£)"]) == ("price_____2", "price_____3")


def test_a_renamed_column_is_new_and_never_lands_in_the_old_one():
    table = _table({"Price (€)": "price____"})
    assert resolve_column_names(["Price ($)"], table) == {"Price ($)": "price_____2"}


def test_a_header_in_another_case_keeps_its_column_when_that_is_unique():
    table = _table({"id": "id", "Amount": "amount"})
    assert resolve_column_names(["ID", "amount"], table) == {"ID": "id", "amount": "amount"}
    # Both 'id' and 'ID' present: 'id' is the column's own, 'ID' is new.
    assert resolve_column_names(["ID", "id"], table) == {"ID": "id_2", "id": "id"}
    # Two candidates for one column: neither is guessed.
    assert resolve_column_names(["Id", "ID"], _table({"id": "id"})) == {"ID": "id_2", "Id": "id_3"}


def test_undescribed_columns_match_by_clean_name_and_refuse_two_candidates():
    table = _table({}, ("ID", "price____"))
    mapping = resolve_column_names(["id", "Price (€)"], table)
    assert mapping == {"id": "ID", "Price (€)": "price____"}
    with pytest.raises(AmbiguousColumn) as refused:
        resolve_column_names(["Price (€)", "Price ($)"], table)
    assert refused.value.table_column == "price____"
    assert refused.value.sources == ["Price ($)", "Price (€)"]


def _bq_table(*fields: tuple[str, str | None]) -> object:
    from google.cloud import bigquery

    schema = [bigquery.SchemaField(name, "INT64", description=about) for name, about in fields]
    return bigquery.Table("p.d.t", schema=schema)


def test_the_table_says_which_source_column_each_column_holds():
    from etl_bigquery.engine.bigquery.tables import table_names

    names = table_names(_bq_table(
        ("price____", "source column 'Price (€)' (text)"), ("id", None),
        ("_etl_loaded_at", "when the row was loaded"),
    ))  # fmt: skip
    assert dict(names.described) == {"Price (€)": "price____"}
    assert sorted(names.undescribed) == ["_etl_loaded_at", "id"]


def test_two_columns_claiming_one_source_column_are_refused():
    from etl_bigquery.engine.bigquery.tables import described_columns
    from etl_bigquery.engine.errors import ValidationError

    table = _bq_table(("a", "source column 'x' (text)"), ("b", "source column 'x' (text)"))
    with pytest.raises(ValidationError, match=r"Columns a and b of table d\.t both say they hold"):
        described_columns(table)


def test_loading_one_source_column_into_a_column_described_as_another_is_refused():
    """Whoever chose the names, a load never fills a column another source column's values
    belong in."""
    from etl_bigquery.engine.bigquery.tables import TableRef, check_existing_table
    from etl_bigquery.engine.conform import TargetColumn
    from etl_bigquery.engine.errors import ValidationError
    from etl_bigquery.engine.jobs.model import LoadType
    from etl_bigquery.engine.schema.bqtypes import BqType

    table = _bq_table(("price____", "source column 'Price (€)' (text)"))
    ref = TableRef("p", "d", "t")
    swapped = TargetColumn("Price ($)", "text", "price____", BqType.INT64)
    with pytest.raises(ValidationError, match=r"holds source column 'Price \(€\)', not 'Price"):
        check_existing_table(table, ref, [swapped], job_name="j", load_type=LoadType.CATALOG)
    # The same column in another case is the same source column.
    same = TargetColumn("PRICE (€)", "text", "price____", BqType.INT64)
    kept = check_existing_table(table, ref, [same], job_name="j", load_type=LoadType.CATALOG)
    assert [c.name for c in kept] == ["price____"]
