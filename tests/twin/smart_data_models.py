"""The FIWARE Smart Data Models as the ``pysmartdatamodels`` package ships them, read offline.

The package (a test dependency) is never imported, only located, and nothing is fetched: its
``model-assets`` folder holds

* ``datamodels_metadata.json`` — per model: its subject (repository), version, ``@context``
  URL and required attributes;
* ``smartdatamodels.json.gz`` — one record per (model, attribute): JSON type, ``format``,
  ``enum``, NGSI type (Property / Relationship / GeoProperty), and ``parentId`` for the members
  of an object attribute (``address.addressLocality``).

The package ships no ``schema.json`` files: its attribute records are the models' schemas with
every ``allOf``/``$ref`` to the common definitions (GSMA-Commons, Location-Commons,
PostalAddress) already resolved into each model's own records (``name``, ``address``,
``location``… are listed under WasteContainer as under every model that uses them), so there
is no URL reference left to map. Two quirks of that flattening are undone here, with the
package's own data:

* ``location``'s GeoJSON alternatives (the ``oneOf`` of Location-Commons) come out as
  parentless ``type`` / ``coordinates`` / ``bbox`` records: they are the members of
  ``location`` (and of any GeoProperty), not attributes of the entity. The geometry types
  allowed are those records' enums.
* The allowed values of array attributes (``WasteContainer.category``, ``Device.deviceCategory``,
  ``StreetlightGroup.switchingMode``…) are only given in the record's description as
  ``Enum:'a, b, c'``: they are parsed from there and applied to the array's items.
* The members of an array's items come out parentless too (``switchingOnHours``' ``from``,
  ``to``, ``hours``; ``configuration``'s ``parameter``): they are listed in
  :data:`ITEM_MEMBERS` below, read off the package's records, and are not entity attributes.

:func:`key_values` turns a normalized NGSI-LD entity into the key-values form those schemas
describe; :class:`SmartDataModels` validates it with ``jsonschema`` (date-time formats checked
for real: jsonschema alone skips them without an extra package).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

NGSI_TYPES = {"Property", "Relationship", "GeoProperty"}
MEMBERS = {"type", "value", "object", "observedAt", "unitCode"}
_ENUM_IN_DESCRIPTION = re.compile(r"Enum:\s*'([^']*)'")
_GEOMETRY_MEMBERS = {"coordinates", "bbox"}
# Parentless records of smartdatamodels.json.gz that follow an array attribute and describe its
# items (the record just before them is the array: StreetlightGroup.switchingOnHours,
# Device.configuration). Device's own top-level "value" attribute shares its name with an item
# member, so it stays allowed.
ITEM_MEMBERS = {"StreetlightGroup": {"from", "to", "hours"}, "Device": {"parameter"}}


def model_assets() -> Path:
    """The installed package's model-assets folder (located without importing the package)."""
    spec = importlib.util.find_spec("pysmartdatamodels")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pysmartdatamodels is a test dependency: pip install -e '.[test]'")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model-assets"
    if not (folder / "smartdatamodels.json.gz").is_file():
        raise RuntimeError(f"no model assets in {folder}")
    return folder


def utc_date_time(value: object) -> bool:
    """An RFC 3339 date-time with an explicit offset (``Z`` or ±hh:mm)."""
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time")(utc_date_time)


@dataclass
class Model:
    """One model: where it comes from and the JSON Schema of its key-values form."""

    name: str
    subject: str
    version: str
    context: str
    required: list[str]
    schema: dict[str, Any]
    ngsi_types: dict[str, str]  # attribute -> Property / Relationship / GeoProperty, where given

    def validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.schema, format_checker=FORMATS)


class SmartDataModels:
    """The models of the package, by name; each found by the ``@context`` an entity names."""

    def __init__(self, names: set[str], folder: Path | None = None) -> None:
        folder = folder or model_assets()
        self.metadata = json.loads(
            (folder / "datamodels_metadata.json").read_text(encoding="utf-8")
        )
        with gzip.open(folder / "smartdatamodels.json.gz", "rt", encoding="utf-8") as handle:
            records = [r for r in json.load(handle) if r.get("dataModel") in names]
        self.records = records
        self.names = {entry["dataModel"] for entry in self.metadata}

    def model(self, name: str, context: str) -> Model:
        """The model ``name`` of the subject whose published context is ``context``."""
        entries = [e for e in self.metadata if e["dataModel"] == name and e["@context"] == context]
        if not entries:
            known = [e["@context"] for e in self.metadata if e["dataModel"] == name]
            raise AssertionError(
                f"{name} with @context {context}: the package knows {known or 'no such model'}"
            )
        entry = entries[0]
        rows = [
            r
            for r in self.records
            if r["dataModel"] == name
            and r["repoName"] == entry["subject"]
            and r["schemaVersion"] == entry["version"]
        ]
        if not rows:
            raise AssertionError(
                f"the package has no attribute records for {name} {entry['version']}"
            )
        schema, ngsi_types = _schema(name, rows, entry["required"])
        return Model(
            name,
            entry["subject"],
            entry["version"],
            entry["@context"],
            entry["required"],
            schema,
            ngsi_types,
        )


def _schema(
    name: str, rows: list[dict[str, Any]], required: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    geometry_types = sorted(
        {
            kind
            for r in rows
            if r["property"] == "type" and "parentId" not in r
            for kind in r.get("enum", [])
            if kind != name
        }
    )
    geometry = {
        "type": "object",
        "required": ["type", "coordinates"],
        "properties": {
            "type": {"enum": geometry_types},
            "coordinates": {"type": "array"},
            "bbox": {"type": "array"},
        },
        "additionalProperties": False,
    }
    children: dict[str, dict[str, Any]] = {}
    for row in rows:
        if "parentId" in row:
            parent = row["parentId"].rsplit("/", 1)[-1].split("#", 1)[0]
            children.setdefault(parent, {})[row["property"]] = _attribute(row)
    properties: dict[str, Any] = {"id": {"type": "string"}, "type": {"const": name}}
    ngsi_types: dict[str, str] = {}
    for row in rows:
        attribute = row["property"]
        if "parentId" in row or attribute in ("id", "type") or attribute in _GEOMETRY_MEMBERS:
            continue
        if attribute in ITEM_MEMBERS.get(name, ()):
            continue
        if row.get("typeNGSI") == "GeoProperty":
            properties[attribute] = geometry
        elif attribute in children:
            properties[attribute] = {
                "type": "object",
                "properties": children[attribute],
                "additionalProperties": False,
            }
        else:
            properties.setdefault(attribute, _attribute(row))
        if row.get("typeNGSI") in NGSI_TYPES:
            ngsi_types[attribute] = row["typeNGSI"]
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    return schema, ngsi_types


def _attribute(row: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    if row.get("type"):
        schema["type"] = row["type"]
    if row.get("format"):
        schema["format"] = row["format"]
    if row.get("enum"):
        schema["enum"] = row["enum"]
    elif row.get("type") == "array" and (
        found := _ENUM_IN_DESCRIPTION.search(row.get("description") or "")
    ):
        schema["items"] = {
            "enum": [item.strip() for item in found.group(1).split(",") if item.strip()]
        }
    return schema


def key_values(entity: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The key-values form of a normalized entity, and what is wrong with its NGSI-LD shape."""
    problems: list[str] = []
    simplified: dict[str, Any] = {"id": entity.get("id"), "type": entity.get("type")}
    for name, attribute in entity.items():
        if name in ("id", "type", "@context"):
            continue
        if not isinstance(attribute, dict) or attribute.get("type") not in NGSI_TYPES:
            problems.append(f"{name}: not a Property, Relationship or GeoProperty")
            continue
        if extra := set(attribute) - MEMBERS:
            problems.append(f"{name}: unexpected members {sorted(extra)}")
        member = "object" if attribute["type"] == "Relationship" else "value"
        if member not in attribute:
            problems.append(f"{name}: a {attribute['type']} without {member}")
            continue
        if "observedAt" in attribute and not utc_date_time(attribute["observedAt"]):
            problems.append(f"{name}: observedAt {attribute['observedAt']!r} is not a date-time")
        if "unitCode" in attribute and attribute["type"] != "Property":
            problems.append(f"{name}: unitCode on a {attribute['type']}")
        value = attribute[member]
        if isinstance(value, dict) and value.get("@type") == "DateTime":
            value = value.get("@value")
        simplified[name] = value
    return simplified, problems


def check_entity(entity: dict[str, Any], models: SmartDataModels) -> list[str]:
    """Every way the entity departs from its model (empty when it conforms)."""
    entity_type = entity.get("type")
    if entity_type not in models.names:
        return [f"type {entity_type!r} is not a model of the package"]
    context = entity.get("@context")
    if not isinstance(context, str):
        return [f"@context must be the model's context URL as a string, not {context!r}"]
    model = models.model(entity_type, context)
    problems = []
    if not str(entity.get("id", "")).startswith(f"urn:ngsi-ld:{entity_type}:"):
        problems.append(f"id {entity.get('id')!r} is not urn:ngsi-ld:{entity_type}:<code>")
    simplified, shape_problems = key_values(entity)
    problems.extend(shape_problems)
    for name, attribute in entity.items():
        expected = model.ngsi_types.get(name)
        if isinstance(attribute, dict) and expected and attribute.get("type") != expected:
            problems.append(f"{name}: a {attribute.get('type')}, the model says {expected}")
        if (
            isinstance(attribute, dict)
            and isinstance(attribute.get("value"), dict)
            and attribute["value"].get("@type") == "DateTime"
        ):
            declared = model.schema["properties"].get(name, {}).get("format")
            if declared != "date-time":
                problems.append(f"{name}: typed DateTime but the model's format is {declared!r}")
    for error in model.validator().iter_errors(simplified):
        where = "/".join(str(part) for part in error.absolute_path) or "(entity)"
        problems.append(f"{where}: {error.message}")
    return [f"{entity.get('id')}: {problem}" for problem in problems]
