"""The connector's reading of Kintone: field types, limits and the REST client."""
