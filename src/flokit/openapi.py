OPENAPI: dict[str, object] = {"openapi": "3.1.0"}
