#!/usr/bin/env python3
"""Check OTS's OpenAPI document, and recorded responses against it.

Usage: check-openapi.py SPEC.json [RECORDED.jsonl]

Validates SPEC.json as an OpenAPI document. Given RECORDED.jsonl, whose
lines are {"method", "path", "status", "content_type", "body"} (body the
parsed JSON, or null), checks that each response's method, path and status
are in the document and that a JSON body matches the declared schema.
Prints one line per problem and exits 1 when there is any.
"""

import json
import sys
from datetime import datetime
from urllib.parse import urlsplit

import jsonschema
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:ots:openapi"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def pointer_escape(key):
    return key.replace("~", "~0").replace("/", "~1")


def resolve_local(spec, ref):
    """The object a local reference (#/...) names, and its pointer."""
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, not {ref}")
    node = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node, ref[1:]


def deref(spec, node, pointer):
    """Follows $ref chains of OpenAPI objects (responses, media types)."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        if node["$ref"] in seen:
            raise ValueError(f"reference loop at {node['$ref']}")
        seen.add(node["$ref"])
        node, pointer = resolve_local(spec, node["$ref"])
    return node, pointer


def base_paths(spec):
    """Path prefixes of the servers, '' when they have none."""
    prefixes = set()
    for server in spec.get("servers") or [{"url": "/"}]:
        path = urlsplit(server.get("url", "/")).path.rstrip("/")
        prefixes.add(path if "{" not in path else "")
    return prefixes or {""}


def match_path(spec, path):
    """The path template that matches the concrete path, preferring literal
    segments over parameters from left to right; None when none does."""
    path = urlsplit(path).path
    best = None
    for prefix in base_paths(spec):
        for template in spec.get("paths", {}):
            full = (prefix + template) if template.startswith("/") else template
            wanted = full.strip("/").split("/")
            given = path.strip("/").split("/")
            if len(wanted) != len(given):
                continue
            score = []
            for want, got in zip(wanted, given):
                if want.startswith("{") and want.endswith("}"):
                    if not got:
                        break
                    score.append(0)
                elif want == got:
                    score.append(1)
                else:
                    break
            else:
                if best is None or score > best[0]:
                    best = (score, template)
    return best[1] if best else None


def media_type(content_type):
    return (content_type or "").split(";")[0].strip().lower()


def is_json(mime):
    return mime == "application/json" or mime.endswith("+json")


def date_time(value):
    if not isinstance(value, str):
        return True
    if "T" not in value.upper():
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def format_checker():
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    checker = jsonschema.FormatChecker(formats=checker.checkers.keys())
    checker.checks("date-time")(date_time)
    return checker


class Checker:
    def __init__(self, spec):
        self.spec = spec
        # The whole document is one resource: a response's schema is checked
        # as {"$ref": "urn:ots:openapi#<pointer to it>"}, so its own
        # "#/components/schemas/..." references resolve inside the document.
        resource = Resource(contents=spec, specification=DRAFT202012)
        self.registry = Registry().with_resource(SPEC_URI, resource)
        self.formats = format_checker()
        self.validators = {}

    def validator(self, pointer):
        if pointer not in self.validators:
            schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": SPEC_URI + "#" + pointer}
            self.validators[pointer] = jsonschema.Draft202012Validator(
                schema, registry=self.registry, format_checker=self.formats
            )
        return self.validators[pointer]

    def check(self, record):
        """The problems of one recorded response."""
        method = str(record.get("method", "")).lower()
        path = record.get("path", "")
        status = record.get("status")
        body = record.get("body")
        mime = media_type(record.get("content_type"))

        template = match_path(self.spec, path)
        if template is None:
            return ["path is not in the spec"]
        item, _ = deref(self.spec, self.spec["paths"][template], "/paths/" + pointer_escape(template))
        if method not in METHODS or method not in item:
            return [f"method is not in the spec for {template}"]
        responses = item[method].get("responses", {})
        base = f"/paths/{pointer_escape(template)}/{method}/responses"
        key = str(status)
        if key not in responses:
            wildcard = f"{key[:1]}XX"
            key = wildcard if wildcard in responses else "default" if "default" in responses else None
        if key is None:
            return [f"status is not in the spec for {method.upper()} {template}"]
        response, pointer = deref(self.spec, responses[key], f"{base}/{pointer_escape(key)}")

        if mime and not is_json(mime):
            return []
        content = response.get("content") or {}
        declared = next((m for m in content if is_json(media_type(m))), None)
        if body is None:
            if declared is not None and status != 204:
                return [f"no body, but the spec declares {declared} for {key}"]
            return []
        if declared is None:
            return [f"JSON body, but the spec declares none for {key}"]
        media, media_pointer = deref(self.spec, content[declared], f"{pointer}/content/{pointer_escape(declared)}")
        if "schema" not in media:
            return []
        problems = []
        for error in sorted(self.validator(media_pointer + "/schema").iter_errors(body), key=lambda e: list(e.absolute_path)):
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "body"
            problems.append(f"{where.lstrip('.')}: {error.message}")
        return problems


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    spec_path = argv[1]
    try:
        with open(spec_path, encoding="utf-8") as file:
            spec = json.load(file)
        validate(spec)
    except Exception as error:
        message = getattr(error, "message", None) or str(error).splitlines()[0]
        print(f"{spec_path}: not a valid OpenAPI document: {message}")
        return 1
    if len(argv) == 2:
        print(f"{spec_path}: valid OpenAPI {spec.get('openapi')}")
        return 0

    checker = Checker(spec)
    problems = 0
    checked = 0
    with open(argv[2], encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                print(f"{argv[2]}:{number}: not JSON: {error}")
                problems += 1
                continue
            checked += 1
            label = f"{str(record.get('method', '?')).upper()} {record.get('path', '?')} {record.get('status', '?')}"
            try:
                found = checker.check(record)
            except Exception as error:
                found = [f"cannot check: {error}"]
            for message in found:
                print(f"{label}: {message}")
            problems += len(found)
    print(f"checked {checked} responses against {spec_path}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
