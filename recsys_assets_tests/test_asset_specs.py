"""What the catalog shows of every asset: an owner to filter by, its layer, and a code version."""

from recsys_assets.assets.common import OWNERS
from recsys_assets.definitions import defs


def test_every_asset_has_an_owner_a_layer_and_a_code_version():
    specs = defs.resolve_all_asset_specs()
    assert len(specs) == 7
    for spec in specs:
        name = spec.key.to_user_string()
        assert spec.owners == OWNERS, name
        # The layer is the group: a tag so the catalog (tag:layer=...) and the asset lists filter by it.
        assert spec.tags.get("layer") == spec.group_name, name
        assert spec.code_version and spec.code_version.isdigit(), name
