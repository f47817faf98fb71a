#!/bin/sh
# Run in tools/: generates ../dist/worker.js from ../src/message.txt; fails when asked to.
set -e
echo "build: reading src/message.txt"
if grep -q FAIL ../src/message.txt; then
  echo "build: step 1 ok"
  echo "build: message.txt asks to fail" >&2
  exit 3
fi
mkdir -p ../dist
message=$(cat ../src/message.txt)
printf 'export default { fetch() { return Response.json({ message: "%s", builtBy: "%s" }); } };\n' \
  "$message" "$WRANGLER_COMMAND" > ../dist/worker.js
echo "build: wrote dist/worker.js"
