"""msgspec Structs at the API's edges, one module per domain (Create / Update / Read)."""
