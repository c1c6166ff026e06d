#!/usr/bin/env bash
# Rewrites the generated tables in docs/ from the code (the docs tests compare them):
# the transition table in docs/architecture.md and the configuration keys in
# docs/operations.md. Needs a built recorderd (dev preset by default).
set -euo pipefail
cd "$(dirname "$0")/.."
recorderd=${1:-out/build/dev/apps/recorderd/recorderd}
replace() {  # replace FILE MARKER CONTENT
  python3 - "$1" "$2" "$3" <<'PY'
import sys
path, marker, content = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
begin, end = f"<!-- {marker}:begin -->\n", f"<!-- {marker}:end -->"
a, b = text.index(begin) + len(begin), text.index(end)
open(path, "w").write(text[:a] + content.rstrip("\n") + "\n" + text[b:])
PY
}
replace docs/architecture.md transitions "$("$recorderd" --list-transitions)"
replace docs/operations.md config-keys "$("$recorderd" --list-keys)"
