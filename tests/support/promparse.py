#!/usr/bin/env python3
"""Reads Prometheus text exposition on stdin with prometheus_client's own parser (a parser
nobody here wrote) and prints one line per sample: name{label="value",...} value.
Exits 1 with the parser's complaint when the text is not valid exposition."""
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
try:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            print(f"{s.name}{{{labels}}} {s.value!r}")
except Exception as e:  # the parser's words are the finding
    print(f"invalid exposition: {e}", file=sys.stderr)
    sys.exit(1)
