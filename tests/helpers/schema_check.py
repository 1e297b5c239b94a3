"""Validate JSON documents against a JSON Schema (draft 2020-12) with
Debian's python3-jsonschema. Run with /usr/bin/python3 by the integration
tests (the test runner itself may be another Python).

stdin:  {"schema": {...}, "instances": [...]}
stdout: {"jsonschema": "<module path> <version>",
         "results": [{"ok": bool, "errors": ["path: message", ...]}, ...]}
"""
import json
import sys

import jsonschema

try:
    from importlib.metadata import version
    VERSION = version("jsonschema")
except Exception:  # noqa: BLE001 - old Pythons
    VERSION = getattr(jsonschema, "__version__", "?")


def main():
    req = json.load(sys.stdin)
    cls = jsonschema.Draft202012Validator
    cls.check_schema(req["schema"])
    v = cls(req["schema"])
    results = []
    for inst in req["instances"]:
        errs = sorted(v.iter_errors(inst), key=lambda e: [str(p) for p in e.absolute_path])
        results.append({"ok": not errs,
                        "errors": ["/".join(str(p) for p in e.absolute_path) + ": " + e.message
                                   for e in errs[:3]]})
    json.dump({"jsonschema": "%s %s" % (jsonschema.__file__, VERSION), "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
