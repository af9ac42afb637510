from etl_bigquery.engine.schema.names import MAX_COLUMN_NAME, map_column_names, sanitize_column_name


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


def test_collisions_get_numbered_suffixes_in_source_order_and_are_never_merged():
    mapping = map_column_names(["Name", "name", "NAME!", "name_2"])
    assert mapping == {"Name": "name", "name": "name_2", "NAME!": "name_", "name_2": "name_2_2"}
    assert len(set(mapping.values())) == 4


def test_mapping_is_deterministic():
    names = ["a b", "a-b", "a_b", "A B"]
    assert map_column_names(names) == map_column_names(list(names))


def test_suffixed_names_still_fit_the_length_limit():
    long = "y" * 400
    mapping = map_column_names([long, long + "!"])
    assert all(len(v) <= MAX_COLUMN_NAME for v in mapping.values())
    assert len(set(mapping.values())) == 2


def test_metadata_column_names_are_never_given_to_source_columns():
    mapping = map_column_names(["x"], taken=["x"])
    assert mapping["x"] == "x_2"
